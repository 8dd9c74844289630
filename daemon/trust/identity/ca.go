package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Lifetimes of what the CA issues.
const (
	// CAValidity is the lifetime of a cluster CA certificate.
	CAValidity = 10 * 365 * 24 * time.Hour
	// DefaultNodeValidity is the lifetime of a node certificate (Swarm's
	// default); agents renew theirs when a third of it is left.
	DefaultNodeValidity = 90 * 24 * time.Hour
	// clockSkew backdates NotBefore so that a peer whose clock is a little
	// behind accepts a certificate issued just now.
	clockSkew = 5 * time.Minute
)

// Subject names of node certificates, as Kubernetes names its nodes'
// credentials.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewKey makes an ECDSA P-256 private key.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// NewCA creates a self-signed root CA for a new cluster.
func NewCA(now time.Time) (*CA, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "shoal cluster CA " + hex.EncodeToString(id), Organization: []string{"shoal"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	cert, err := sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CrossSign issues a certificate for next's key and subject signed by ca:
// an intermediate that lets agents which trust only ca verify certificates
// next issues, while a CA rotation spreads (Swarm's approach).
func (ca *CA) CrossSign(next *CA, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:               next.Cert.Subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              minTime(next.Cert.NotAfter, ca.Cert.NotAfter),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              next.Cert.KeyUsage,
		SubjectKeyId:          next.Cert.SubjectKeyId,
	}
	cert, err := sign(tmpl, ca.Cert, &next.Key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("cross-sign CA: %w", err)
	}
	return cert, nil
}

// KubernetesServiceNames are the names of the `kubernetes` Service in the
// `default` namespace, through which pods reach every agent's API: each
// node certificate carries them, as a Kubernetes API server's does.
var KubernetesServiceNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// NodeRequest is what a node certificate is issued for.
type NodeRequest struct {
	Name      string
	IPs       []net.IP
	DNSNames  []string
	PublicKey crypto.PublicKey
	Validity  time.Duration // 0: DefaultNodeValidity
}

// IssueNode issues a node certificate, usable both to serve (the API, the
// internal endpoints) and as a client of the other agents.
func (ca *CA) IssueNode(req NodeRequest, now time.Time) (*x509.Certificate, error) {
	pub, ok := req.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("node key must be an ECDSA key")
	}
	validity := req.Validity
	if validity <= 0 {
		validity = DefaultNodeValidity
	}
	dns := append(append([]string{req.Name, "localhost"}, KubernetesServiceNames...), req.DNSNames...)
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, req.IPs...)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: NodeUserPrefix + req.Name, Organization: []string{NodesGroup}},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    minTime(now.Add(validity), ca.Cert.NotAfter),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dedupe(dns),
		IPAddresses: dedupeIPs(ips),
	}
	return sign(tmpl, ca.Cert, pub, ca.Key)
}

// NodeName returns the node a certificate was issued to, or "" if it is not
// a node certificate.
func NodeName(cert *x509.Certificate) string {
	name, ok := strings.CutPrefix(cert.Subject.CommonName, NodeUserPrefix)
	if !ok || name == "" {
		return ""
	}
	for _, o := range cert.Subject.Organization {
		if o == NodesGroup {
			return name
		}
	}
	return ""
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// keyID is the subject key identifier of a public key (RFC 5280, method 1).
func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}

// Fingerprint is the SHA-256 of a certificate, base32 without padding, in
// lower case: how a join token names the cluster's CA.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return strings.ToLower(b32.EncodeToString(sum[:]))
}

// ShortFingerprint is the first 12 characters of Fingerprint, for logs and
// listings.
func ShortFingerprint(cert *x509.Certificate) string { return Fingerprint(cert)[:12] }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func dedupeIPs(in []net.IP) []net.IP {
	seen := map[string]bool{}
	var out []net.IP
	for _, ip := range in {
		if ip == nil || ip.IsUnspecified() || seen[ip.String()] {
			continue
		}
		seen[ip.String()] = true
		out = append(out, ip)
	}
	return out
}
