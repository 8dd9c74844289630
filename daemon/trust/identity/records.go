package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Keys of the cluster records this package owns. They replicate like every
// record and are encrypted at rest.
const (
	RecordCA      = "x/ca"
	RecordJoin    = "x/join"
	RecordKeyring = "x/keyring"
)

// RecordPrefix is the prefix of every cluster record of this package.
const RecordPrefix = "x/"

// maxRecord bounds a cluster record's value.
const maxRecord = 256 << 10

// CAState is the cluster CA as every agent holds it.
type CAState struct {
	// Generation counts CA rotations (1 for the founding CA).
	Generation int `json:"generation"`
	// Cert and Key are the CA that signs new certificates (PEM).
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
	// CrossSigned is the current CA's certificate signed by the previous
	// CA, sent along with every certificate chain while agents or clients
	// may still trust only the previous CA (PEM; empty before a rotation).
	CrossSigned []byte `json:"crossSigned,omitempty"`
	// Trusted are the root certificates agents accept (PEM): the current
	// CA, and during a rotation the previous one.
	Trusted []byte `json:"trusted"`
}

// Parsed is a checked CAState.
type Parsed struct {
	CA          *CA
	CrossSigned *x509.Certificate // nil if none
	Trusted     []*x509.Certificate
}

// Parse checks and decodes a CA state: the key matches the certificate,
// which is a CA, and the current CA is among the trusted roots.
func (s *CAState) Parse() (*Parsed, error) {
	if s.Generation < 1 {
		return nil, errors.New("ca: generation must be at least 1")
	}
	certs, err := ParseCerts(s.Cert)
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("ca: cert: want one certificate: %v", err)
	}
	key, err := ParseKey(s.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	cert := certs[0]
	if !cert.IsCA || !matches(cert, key) {
		return nil, errors.New("ca: the certificate is not a CA or does not match the key")
	}
	trusted, err := ParseCerts(s.Trusted)
	if err != nil {
		return nil, fmt.Errorf("ca: trusted: %w", err)
	}
	if !slices.ContainsFunc(trusted, cert.Equal) {
		return nil, errors.New("ca: the current CA is not among the trusted roots")
	}
	for _, t := range trusted {
		if !t.IsCA {
			return nil, errors.New("ca: a trusted certificate is not a CA")
		}
	}
	p := &Parsed{CA: &CA{Cert: cert, Key: key}, Trusted: trusted}
	if len(s.CrossSigned) > 0 {
		cs, err := ParseCerts(s.CrossSigned)
		if err != nil || len(cs) != 1 {
			return nil, fmt.Errorf("ca: crossSigned: want one certificate: %v", err)
		}
		pub, ok := cs[0].PublicKey.(*ecdsa.PublicKey)
		if !ok || !bytes.Equal(cs[0].RawSubject, cert.RawSubject) || !pub.Equal(cert.PublicKey) {
			return nil, errors.New("ca: crossSigned is not a certificate of the current CA")
		}
		p.CrossSigned = cs[0]
	}
	return p, nil
}

// NewCAState is the state of a founding CA.
func NewCAState(ca *CA) (*CAState, error) {
	key, err := EncodeKey(ca.Key)
	if err != nil {
		return nil, err
	}
	return &CAState{Generation: 1, Cert: EncodeCerts(ca.Cert), Key: key, Trusted: EncodeCerts(ca.Cert)}, nil
}

// JoinState holds the current join secret. It is kept (encrypted at rest)
// rather than hashed so that `shoal join-token` can print the same token
// again, as Swarm does; rotating it invalidates every token given out.
type JoinState struct {
	Secret  string    `json:"secret"`
	Rotated time.Time `json:"rotated"`
}

// Check reports whether secret is the current join secret, in constant time.
func (j *JoinState) Check(secret string) bool {
	return len(j.Secret) == joinSecretLen && subtle.ConstantTimeCompare([]byte(j.Secret), []byte(secret)) == 1
}

// Keyring is the gossip encryption keyring: every installed key and the
// one used to encrypt (base64 of 32-byte AES-256 keys).
type Keyring struct {
	Keys    []string `json:"keys"`
	Primary string   `json:"primary"`
}

// GossipKeySize is the AES-256 key size memberlist uses.
const GossipKeySize = 32

// Decode returns the raw keys, primary first.
func (k *Keyring) Decode() ([][]byte, error) {
	if len(k.Keys) == 0 {
		return nil, errors.New("keyring: no key")
	}
	if len(k.Keys) > 16 {
		return nil, fmt.Errorf("keyring: %d keys, at most 16", len(k.Keys))
	}
	if !slices.Contains(k.Keys, k.Primary) {
		return nil, errors.New("keyring: the primary key is not installed")
	}
	out := [][]byte{nil}
	for _, s := range k.Keys {
		b, err := DecodeGossipKey(s)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		if s == k.Primary {
			out[0] = b
		} else {
			out = append(out, b)
		}
	}
	return out, nil
}

// DecodeGossipKey decodes a base64 gossip key and checks its size.
func DecodeGossipKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != GossipKeySize {
		return nil, fmt.Errorf("a gossip key is %d bytes in base64 (44 characters), as `shoal keys generate` prints", GossipKeySize)
	}
	return b, nil
}

// ValidateRecord checks a cluster record of this package, as received from
// another agent or read from disk, before it is stored.
func ValidateRecord(key string, value []byte, deleted bool) error {
	if deleted {
		return fmt.Errorf("%s: cluster records are never deleted", key)
	}
	if len(value) > maxRecord {
		return fmt.Errorf("%s: %d bytes, at most %d", key, len(value), maxRecord)
	}
	switch key {
	case RecordCA:
		var s CAState
		if err := strictJSON(value, &s); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		_, err := s.Parse()
		return err
	case RecordJoin:
		var s JoinState
		if err := strictJSON(value, &s); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if len(s.Secret) != joinSecretLen || !isBase32(s.Secret) {
			return fmt.Errorf("%s: secret must be %d base32 characters", key, joinSecretLen)
		}
		return nil
	case RecordKeyring:
		var s Keyring
		if err := strictJSON(value, &s); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		_, err := s.Decode()
		return err
	}
	return fmt.Errorf("%s: unknown cluster record", key)
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
