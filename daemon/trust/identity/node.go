package identity

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Node is this agent's identity: its key, its certificate chain (leaf
// first, then any intermediate such as a cross-signed CA) and the roots it
// trusts.
type Node struct {
	Name  string
	Key   *ecdsa.PrivateKey
	Chain []*x509.Certificate
	Trust []*x509.Certificate
}

// Leaf is the node's own certificate.
func (n *Node) Leaf() *x509.Certificate { return n.Chain[0] }

// TLSCertificate is the chain and key for crypto/tls.
func (n *Node) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: n.Key, Leaf: n.Leaf()}
	for _, x := range n.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// Pool is the trusted roots as a pool.
func (n *Node) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range n.Trust {
		p.AddCert(c)
	}
	return p
}

// Verify checks that the chain is valid now for the node's name, under
// its own trust roots.
func (n *Node) Verify(now time.Time) error {
	if len(n.Chain) == 0 {
		return errors.New("no certificate")
	}
	if !matches(n.Leaf(), n.Key) {
		return errors.New("the certificate does not match the key")
	}
	if got := NodeName(n.Leaf()); got != n.Name {
		return fmt.Errorf("the certificate is for node %q, not %q", got, n.Name)
	}
	inter := x509.NewCertPool()
	for _, c := range n.Chain[1:] {
		inter.AddCert(c)
	}
	_, err := n.Leaf().Verify(x509.VerifyOptions{Roots: n.Pool(), Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// RenewAfter is when the node should renew: when a third of its lifetime
// is left (counted from its issue, not from the backdated NotBefore).
func (n *Node) RenewAfter() time.Time {
	l := n.Leaf()
	issued := l.NotBefore.Add(clockSkew)
	return l.NotAfter.Add(-l.NotAfter.Sub(issued) / 3)
}

// Files of a node identity under <data-dir>/identity.
const (
	dirName   = "identity"
	keyFile   = "node.key"
	certFile  = "node.crt"
	trustFile = "ca.crt"
)

// Dir is the identity directory of a data dir.
func Dir(dataDir string) string { return filepath.Join(dataDir, dirName) }

// ErrNoIdentity means the data dir holds no identity yet.
var ErrNoIdentity = errors.New("no cluster identity")

// Load reads the node identity of a data dir; ErrNoIdentity if none.
func Load(dataDir, name string) (*Node, error) {
	dir := Dir(dataDir)
	read := func(f string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	keyPEM, err := read(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	certPEM, err := read(certFile)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	trustPEM, err := read(trustFile)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	n := &Node{Name: name}
	if n.Key, err = ParseKey(keyPEM); err != nil {
		return nil, fmt.Errorf("identity %s: %w", filepath.Join(dir, keyFile), err)
	}
	if n.Chain, err = ParseCerts(certPEM); err != nil {
		return nil, fmt.Errorf("identity %s: %w", filepath.Join(dir, certFile), err)
	}
	if n.Trust, err = ParseCerts(trustPEM); err != nil {
		return nil, fmt.Errorf("identity %s: %w", filepath.Join(dir, trustFile), err)
	}
	return n, nil
}

// Save writes the identity atomically, readable by the owner only.
func (n *Node) Save(dataDir string) error {
	dir := Dir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	key, err := EncodeKey(n.Key)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{trustFile, EncodeCerts(n.Trust...)}, {certFile, EncodeCerts(n.Chain...)}, {keyFile, key}} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
	}
	return nil
}

// WriteFileAtomic writes a file by renaming a synced temporary file over it.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
