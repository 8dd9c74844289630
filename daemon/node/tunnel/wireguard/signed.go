package wireguard

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// Annotation is the Node annotation that carries the node's signed public key.
const Annotation = "shoal.dev/wireguard-key"

const (
	signedVersion = "v1"
	signContext   = "shoal wireguard key"
	// maxSigned bounds what VerifyKey parses: a leaf and a cross-signed CA
	// certificate take about 2 KB.
	maxSigned = 16 << 10
	maxChain  = 4
)

// Why VerifyKey refuses a key; the errors it returns wrap one of these.
var (
	ErrNoKey        = errors.New("no wireguard key published")
	ErrMalformed    = errors.New("malformed signed wireguard key")
	ErrUntrusted    = errors.New("certificate not issued by this cluster's CA")
	ErrExpired      = errors.New("certificate expired or not yet valid")
	ErrWrongNode    = errors.New("certificate is for another node")
	ErrBadSignature = errors.New("signature does not match")
)

var b64 = base64.RawURLEncoding

// SignKey makes the value of the Annotation for this node's public key:
// the key signed with the node's certificate key, and the certificate
// chain that lets any agent of the cluster check it.
func SignKey(node *identity.Node, pub Key) (string, error) {
	if node == nil || node.Key == nil || len(node.Chain) == 0 {
		return "", errors.New("sign wireguard key: no node identity")
	}
	if pub.IsZero() {
		return "", errors.New("sign wireguard key: no public key")
	}
	leaf := node.Leaf()
	if got := identity.NodeName(leaf); got != node.Name {
		return "", fmt.Errorf("sign wireguard key: the certificate is for node %q, not %q", got, node.Name)
	}
	digest := signedDigest(node.Name, pub, leaf)
	sig, err := ecdsa.SignASN1(rand.Reader, node.Key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign wireguard key: %w", err)
	}
	var chain []byte
	for _, c := range node.Chain {
		chain = append(chain, c.Raw...)
	}
	return strings.Join([]string{signedVersion, b64.EncodeToString(pub[:]), b64.EncodeToString(sig), b64.EncodeToString(chain)}, "."), nil
}

// VerifyKey returns the public key in a node's Annotation value once it
// has checked that the node's certificate chain leads to one of roots, that
// the certificate names nodeName and is valid at now, and that the
// certificate's key signed this public key for this node and certificate.
// Any other value is refused with an error naming the node and why (it
// wraps one of the Err* values).
func VerifyKey(value, nodeName string, roots *x509.CertPool, now time.Time) (Key, error) {
	fail := func(kind error, format string, args ...any) (Key, error) {
		msg := kind.Error()
		if format != "" {
			msg += ": " + fmt.Sprintf(format, args...)
		}
		return Key{}, fmt.Errorf("wireguard key of node %q (annotation %s): %s: %w", nodeName, Annotation, msg, kind)
	}
	if value == "" {
		return fail(ErrNoKey, "")
	}
	if len(value) > maxSigned {
		return fail(ErrMalformed, "%d bytes, at most %d", len(value), maxSigned)
	}
	parts := strings.Split(value, ".")
	if len(parts) != 4 || parts[0] != signedVersion {
		return fail(ErrMalformed, "want %s.<key>.<signature>.<certificates>", signedVersion)
	}
	rawKey, err := b64.DecodeString(parts[1])
	if err != nil {
		return fail(ErrMalformed, "key: %v", err)
	}
	pub, err := keyFromBytes(rawKey)
	if err != nil {
		return fail(ErrMalformed, "%v", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return fail(ErrMalformed, "signature: %v", err)
	}
	der, err := b64.DecodeString(parts[3])
	if err != nil {
		return fail(ErrMalformed, "certificates: %v", err)
	}
	chain, err := x509.ParseCertificates(der)
	if err != nil || len(chain) == 0 || len(chain) > maxChain {
		return fail(ErrMalformed, "certificates: want 1 to %d DER certificates (%d, %v)", maxChain, len(chain), err)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if roots == nil {
		return fail(ErrUntrusted, "no trusted CA given")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return fail(ErrExpired, "valid %s to %s", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return fail(ErrUntrusted, "%v", err)
	}
	if got := identity.NodeName(leaf); got != nodeName {
		return fail(ErrWrongNode, "the certificate is for %q", got)
	}
	certKey, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fail(ErrBadSignature, "the certificate's key is not ECDSA")
	}
	digest := signedDigest(nodeName, pub, leaf)
	if !ecdsa.VerifyASN1(certKey, digest[:], sig) {
		return fail(ErrBadSignature, "")
	}
	return pub, nil
}

// signedDigest is what a node signs: its name, the key, and the very
// certificate (hash and expiry) it signs with, so that a signature made
// under one certificate is worthless with another.
func signedDigest(node string, pub Key, leaf *x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(signContext))
	var n [8]byte
	binary.BigEndian.PutUint16(n[:2], uint16(len(node)))
	h.Write(n[:2])
	h.Write([]byte(node))
	h.Write(pub[:])
	cert := sha256.Sum256(leaf.Raw)
	h.Write(cert[:])
	binary.BigEndian.PutUint64(n[:], uint64(leaf.NotAfter.Unix()))
	h.Write(n[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
