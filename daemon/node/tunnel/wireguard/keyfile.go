package wireguard

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// KeyFile is the name of the private key's file under <data-dir>/identity.
const KeyFile = "wireguard.key"

// keyFile is what KeyFile holds: the private key and the fingerprint of
// the node certificate it was made for.
type keyFile struct {
	PrivateKey  string `json:"privateKey"`
	Certificate string `json:"certificate"`
}

// KeyForCertificate returns this node's WireGuard private key for its
// current node certificate. It makes (and saves, mode 0600) a new key when
// there is none, when the saved one was made for another certificate (the
// certificate was renewed: the key rotates with it), when the file cannot
// be read as a key, or when its mode lets others read it (the key may have
// leaked). why says why a new key was made, and is empty when the saved
// key is returned.
func KeyForCertificate(dataDir string, cert *x509.Certificate) (key Key, why string, err error) {
	if cert == nil {
		return Key{}, "", errors.New("wireguard key: no node certificate")
	}
	path := filepath.Join(identity.Dir(dataDir), KeyFile)
	fp := certFingerprint(cert)
	key, why = readKeyFile(path, fp)
	if why == "" {
		return key, "", nil
	}
	if key, err = NewPrivateKey(); err != nil {
		return Key{}, "", err
	}
	data, err := json.Marshal(keyFile{PrivateKey: key.String(), Certificate: fp})
	if err != nil {
		return Key{}, "", fmt.Errorf("wireguard key: %w", err)
	}
	if err := os.MkdirAll(identity.Dir(dataDir), 0o700); err != nil {
		return Key{}, "", fmt.Errorf("wireguard key: %w", err)
	}
	if err := identity.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return Key{}, "", fmt.Errorf("wireguard key: save %s: %w", path, err)
	}
	return key, why, nil
}

// readKeyFile returns the saved key if it is usable for the certificate
// fingerprint fp, else why it is not.
func readKeyFile(path, fp string) (Key, string) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Key{}, "no key yet"
	}
	if err != nil {
		return Key{}, fmt.Sprintf("%s cannot be read (%v)", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Sprintf("%s was readable by others (mode %#o)", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Sprintf("%s cannot be read (%v)", path, err)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return Key{}, fmt.Sprintf("%s is not a key file (%v)", path, err)
	}
	key, err := ParseKey(kf.PrivateKey)
	if err != nil {
		return Key{}, fmt.Sprintf("%s: %v", path, err)
	}
	if kf.Certificate != fp {
		return Key{}, "the node certificate changed"
	}
	return key, ""
}

func certFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// NodeKey is this node's WireGuard key pair and what it publishes.
type NodeKey struct {
	Private Key
	Public  Key
	// Annotation is the value of the Annotation to put on the node's Node.
	Annotation string
	// Why says why a new key was made; empty when the saved one is used.
	Why string
}

// LoadNodeKey returns this node's key for its current certificate
// (KeyForCertificate) and the signed annotation that publishes it
// (SignKey). The agent calls it at start and whenever its identity changes
// (a renewal): when Private differs from the key in use, it gives it to
// Tunnel.SetPrivateKey and publishes Annotation.
func LoadNodeKey(dataDir string, node *identity.Node) (*NodeKey, error) {
	if node == nil || len(node.Chain) == 0 {
		return nil, errors.New("wireguard key: no node identity")
	}
	priv, why, err := KeyForCertificate(dataDir, node.Leaf())
	if err != nil {
		return nil, err
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, err
	}
	ann, err := SignKey(node, pub)
	if err != nil {
		return nil, err
	}
	return &NodeKey{Private: priv, Public: pub, Annotation: ann, Why: why}, nil
}
