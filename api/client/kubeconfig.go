package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kubeconfig is the part of kubectl's kubeconfig file that shoal reads and
// writes, so that one file serves both the shoal CLI and kubectl.
type Kubeconfig struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	Clusters       []NamedCluster `json:"clusters"`
	Users          []NamedUser    `json:"users"`
	Contexts       []NamedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
	Preferences    map[string]any `json:"preferences,omitempty"`
}

// NamedCluster is a cluster entry.
type NamedCluster struct {
	Name    string       `json:"name"`
	Cluster ClusterEntry `json:"cluster"`
}

// ClusterEntry says where an API is and how to trust it.
type ClusterEntry struct {
	Server                   string `json:"server"`
	CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
	CertificateAuthority     string `json:"certificate-authority,omitempty"`
	InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify,omitempty"`
	TLSServerName            string `json:"tls-server-name,omitempty"`
}

// NamedUser is a user entry.
type NamedUser struct {
	Name string    `json:"name"`
	User UserEntry `json:"user"`
}

// UserEntry holds a credential: a bearer token or a client certificate.
type UserEntry struct {
	Token                 string `json:"token,omitempty"`
	TokenFile             string `json:"tokenFile,omitempty"`
	ClientCertificateData []byte `json:"client-certificate-data,omitempty"`
	ClientKeyData         []byte `json:"client-key-data,omitempty"`
	ClientCertificate     string `json:"client-certificate,omitempty"`
	ClientKey             string `json:"client-key,omitempty"`
}

// NamedContext is a context entry.
type NamedContext struct {
	Name    string       `json:"name"`
	Context ContextEntry `json:"context"`
}

// ContextEntry pairs a cluster and a user (and a default namespace).
type ContextEntry struct {
	Cluster   string `json:"cluster"`
	User      string `json:"user"`
	Namespace string `json:"namespace,omitempty"`
}

// NewKubeconfig makes a file with one cluster, one user and the context
// pairing them, current.
func NewKubeconfig(name, server string, caPEM []byte, user, token string) *Kubeconfig {
	ctx := user + "@" + name
	return &Kubeconfig{APIVersion: "v1", Kind: "Config",
		Clusters:       []NamedCluster{{Name: name, Cluster: ClusterEntry{Server: server, CertificateAuthorityData: caPEM}}},
		Users:          []NamedUser{{Name: ctx, User: UserEntry{Token: token}}},
		Contexts:       []NamedContext{{Name: ctx, Context: ContextEntry{Cluster: name, User: ctx}}},
		CurrentContext: ctx,
	}
}

// maxKubeconfig bounds the files read.
const maxKubeconfig = 4 << 20

// LoadKubeconfig reads a kubeconfig file. Relative file references in it
// are resolved against the file's directory, as kubectl does.
func LoadKubeconfig(path string) (*Kubeconfig, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxKubeconfig {
		return nil, fmt.Errorf("kubeconfig %s: %d bytes, at most %d", path, fi.Size(), maxKubeconfig)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k Kubeconfig
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range k.Clusters {
		abs(&k.Clusters[i].Cluster.CertificateAuthority)
	}
	for i := range k.Users {
		u := &k.Users[i].User
		abs(&u.TokenFile)
		abs(&u.ClientCertificate)
		abs(&u.ClientKey)
	}
	return &k, nil
}

// Save writes the file, readable by its owner only (it holds a credential).
func (k *Kubeconfig) Save(path string) error {
	b, err := yaml.Marshal(k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Connection is what a client needs to reach and trust an API, and to
// prove who it is.
type Connection struct {
	Context    string
	Server     string
	CAData     []byte // PEM; none: the system's roots
	Insecure   bool
	ServerName string
	Token      string
	CertPEM    []byte
	KeyPEM     []byte
	Namespace  string
}

// Resolve returns the connection of a context ("" for the current one).
func (k *Kubeconfig) Resolve(context string) (*Connection, error) {
	if context == "" {
		context = k.CurrentContext
	}
	if context == "" {
		return nil, errors.New("the kubeconfig has no current-context; give --context")
	}
	var ce *ContextEntry
	for i := range k.Contexts {
		if k.Contexts[i].Name == context {
			ce = &k.Contexts[i].Context
		}
	}
	if ce == nil {
		return nil, fmt.Errorf("context %q is not in the kubeconfig (%s)", context, strings.Join(k.ContextNames(), ", "))
	}
	c := &Connection{Context: context, Namespace: ce.Namespace}
	found := false
	for _, cl := range k.Clusters {
		if cl.Name == ce.Cluster {
			found = true
			c.Server, c.Insecure, c.ServerName = cl.Cluster.Server, cl.Cluster.InsecureSkipTLSVerify, cl.Cluster.TLSServerName
			c.CAData = cl.Cluster.CertificateAuthorityData
			if len(c.CAData) == 0 && cl.Cluster.CertificateAuthority != "" {
				b, err := os.ReadFile(cl.Cluster.CertificateAuthority)
				if err != nil {
					return nil, fmt.Errorf("cluster %q: %w", cl.Name, err)
				}
				c.CAData = b
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("context %q names cluster %q, which is not in the kubeconfig", context, ce.Cluster)
	}
	for _, u := range k.Users {
		if u.Name != ce.User {
			continue
		}
		c.Token, c.CertPEM, c.KeyPEM = u.User.Token, u.User.ClientCertificateData, u.User.ClientKeyData
		var err error
		read := func(p string) []byte {
			if p == "" || err != nil {
				return nil
			}
			var b []byte
			b, err = os.ReadFile(p)
			return b
		}
		if c.Token == "" {
			c.Token = strings.TrimSpace(string(read(u.User.TokenFile)))
		}
		if len(c.CertPEM) == 0 {
			c.CertPEM = read(u.User.ClientCertificate)
		}
		if len(c.KeyPEM) == 0 {
			c.KeyPEM = read(u.User.ClientKey)
		}
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	return c, nil
}

// ContextNames lists the contexts.
func (k *Kubeconfig) ContextNames() []string {
	var out []string
	for _, c := range k.Contexts {
		out = append(out, c.Name)
	}
	return out
}

// TLSConfig is the client TLS configuration of a connection.
func (c *Connection) TLSConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure, ServerName: c.ServerName}
	if len(c.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CAData) {
			return nil, errors.New("certificate-authority-data holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if len(c.CertPEM) > 0 || len(c.KeyPEM) > 0 {
		cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
