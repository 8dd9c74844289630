package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// A bearer token is "<name>.<secret>": the name of its Token object (a
// DNS-1123 label, so without dots) and 52 characters of secret (256 bits).
// Only the SHA-256 of the secret is stored.
const bearerSecretLen = 52

// BearerHashPrefix marks the hash algorithm of a stored token hash.
const BearerHashPrefix = "sha256:"

// NewBearerToken makes a token for the named Token object and the hash to
// store in it.
func NewBearerToken(name string) (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	return name + "." + secret, HashBearerSecret(secret), nil
}

// HashBearerSecret is the stored form of a bearer token's secret.
func HashBearerSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return BearerHashPrefix + hex.EncodeToString(h[:])
}

// ParseBearerToken splits a bearer token into its Token's name and secret.
func ParseBearerToken(token string) (name, secret string, err error) {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 || len(token)-i-1 != bearerSecretLen || !isLowerBase32(token[i+1:]) {
		return "", "", fmt.Errorf("not a shoal token")
	}
	return token[:i], token[i+1:], nil
}

// ValidBearerHash reports whether h is a stored token hash.
func ValidBearerHash(h string) bool {
	hx, ok := strings.CutPrefix(h, BearerHashPrefix)
	b, err := hex.DecodeString(hx)
	return ok && err == nil && len(b) == sha256.Size
}

func isLowerBase32(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
