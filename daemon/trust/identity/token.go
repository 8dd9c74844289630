package identity

import (
	"crypto/rand"
	"errors"
	"strings"
	"time"
)

// A join token is "SHOAL-1-<ca fingerprint>-<secret>": the fingerprint
// (52 characters) pins the cluster CA the new agent will trust, the secret
// (26 characters, 128 bits) proves it may join. Like Swarm's join tokens.
const (
	joinTokenPrefix = "SHOAL-1-"
	fingerprintLen  = 52
	joinSecretLen   = 26
)

// JoinToken is a parsed join token.
type JoinToken struct {
	CAFingerprint string
	Secret        string
}

func (t JoinToken) String() string { return joinTokenPrefix + t.CAFingerprint + "-" + t.Secret }

// ErrBadJoinToken is returned for a string that is not a join token.
var ErrBadJoinToken = errors.New("a join token looks like SHOAL-1-<52 characters>-<26 characters>; print one with `shoal join-token` on a member")

// ParseJoinToken parses a join token.
func ParseJoinToken(s string) (JoinToken, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), joinTokenPrefix)
	fp, secret, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || len(fp) != fingerprintLen || len(secret) != joinSecretLen || !isBase32(fp) || !isBase32(secret) {
		return JoinToken{}, ErrBadJoinToken
	}
	return JoinToken{CAFingerprint: fp, Secret: secret}, nil
}

// NewJoinSecret makes a new join secret.
func NewJoinSecret(now time.Time) (*JoinState, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &JoinState{Secret: strings.ToLower(b32.EncodeToString(b)), Rotated: now.UTC()}, nil
}

func isBase32(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
