package wireguard

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the size of WireGuard (Curve25519) keys.
const KeySize = 32

// Key is a WireGuard private or public key.
type Key [KeySize]byte

// NewPrivateKey makes a random private key.
func NewPrivateKey() (Key, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("wireguard: generate key: %w", err)
	}
	return Key(k.Bytes()), nil
}

// PublicKey is the public key of a private key.
func (k Key) PublicKey() (Key, error) {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return Key{}, fmt.Errorf("wireguard: private key: %w", err)
	}
	return Key(priv.PublicKey().Bytes()), nil
}

// IsZero reports whether the key is unset.
func (k Key) IsZero() bool { return k == Key{} }

// String is the key in standard base64, as wg(8) prints keys.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// hex is the key as WireGuard's configuration protocol wants it.
func (k Key) hex() string { return hex.EncodeToString(k[:]) }

// ParseKey reads a key in standard base64.
func ParseKey(s string) (Key, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Key{}, fmt.Errorf("wireguard key: not base64: %w", err)
	}
	return keyFromBytes(b)
}

func keyFromBytes(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("wireguard key: %d bytes, want %d", len(b), KeySize)
	}
	k := Key(b)
	if k.IsZero() {
		return Key{}, errors.New("wireguard key: all zero")
	}
	return k, nil
}
