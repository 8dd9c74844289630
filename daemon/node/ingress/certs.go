package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// certTable is one immutable snapshot of the certificates the HTTPS
// listener serves, by the host names of Ingress spec.tls. Built with the
// routing table and swapped in whole, so handshakes read it without a lock.
type certTable struct {
	exact     map[string]*tls.Certificate // "a.example.com"
	wildcards map[string]*tls.Certificate // ".example.com" for "*.example.com"
}

// pick chooses the certificate for the name a client asked for (SNI): the
// exact host, then the wildcard one label up; nil for the default one.
func (t *certTable) pick(serverName string) *tls.Certificate {
	if t == nil {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if c := t.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return t.wildcards[name[i:]]
	}
	return nil
}

func (t *certTable) hosts() int {
	if t == nil {
		return 0
	}
	return len(t.exact) + len(t.wildcards)
}

// tlsSecret is what the proxy keeps of a Secret: its type, and its
// certificate and key only for kubernetes.io/tls (no other Secret's data
// is held).
type tlsSecret struct {
	typ             string
	resourceVersion string
	crt, key        []byte
}

func reduceSecret(s *api.Secret) tlsSecret {
	out := tlsSecret{typ: s.Type, resourceVersion: s.ResourceVersion}
	if s.Type == api.SecretTypeTLS {
		out.crt, out.key = s.Data[api.TLSCertKey], s.Data[api.TLSPrivateKeyKey]
	}
	return out
}

// parsedCert is one Secret's key pair as last parsed, kept across builds
// so that a change elsewhere does not parse every certificate again.
type parsedCert struct {
	resourceVersion string
	cert            *tls.Certificate
	reason          string // why cert is nil
}

// certProblem is a host served with the default certificate instead of
// its Secret's, and why. Reasons never hold a Secret's data.
type certProblem struct {
	ingress, secret, host, reason string
}

// buildCerts maps the hosts of every Ingress's spec.tls to their Secret's
// certificate. The oldest Ingress naming a host wins, as for routes; a
// host whose Secret is missing, of another type, does not parse or whose
// certificate does not name the host is left to the default certificate,
// as ingress-nginx does, and reported. cache is read and updated.
func buildCerts(ings []*api.Ingress, secrets map[string]tlsSecret, cache map[string]parsedCert) (*certTable, []certProblem) {
	t := &certTable{exact: map[string]*tls.Certificate{}, wildcards: map[string]*tls.Certificate{}}
	var problems []certProblem
	used := map[string]bool{}
	ordered := slices.Clone(ings)
	slices.SortFunc(ordered, byPrecedence)
	for _, ing := range ordered {
		id := ing.Namespace + "/" + ing.Name
		for _, entry := range ing.Spec.TLS {
			hosts := entry.Hosts
			if len(hosts) == 0 {
				hosts = ruleHosts(ing)
			}
			key := ing.Namespace + "/" + entry.SecretName
			var cert *tls.Certificate
			reason := "spec.tls names no secretName"
			if entry.SecretName != "" {
				used[key] = true
				cert, reason = certOf(key, secrets, cache)
			}
			for _, h := range hosts {
				precise, wildcard, ok := ruleHost(h)
				if !ok {
					continue
				}
				m, k, sample := t.exact, precise, precise
				if wildcard != "" {
					m, k, sample = t.wildcards, wildcard, "x"+wildcard
				}
				if m[k] != nil {
					continue // an older Ingress has it
				}
				c, why := cert, reason
				if c != nil {
					if err := c.Leaf.VerifyHostname(sample); err != nil {
						c, why = nil, "its certificate does not name "+h
					}
				}
				if c == nil {
					problems = append(problems, certProblem{ingress: id, secret: key, host: h, reason: why})
					continue
				}
				m[k] = c
			}
		}
	}
	for k := range cache {
		if !used[k] {
			delete(cache, k)
		}
	}
	return t, problems
}

// ruleHosts are the hosts of an Ingress's rules, for a tls entry without
// hosts.
func ruleHosts(ing *api.Ingress) []string {
	var out []string
	for _, r := range ing.Spec.Rules {
		if r.Host != "" {
			out = append(out, r.Host)
		}
	}
	return out
}

// certOf is the key pair of the Secret at key, parsed once per version.
func certOf(key string, secrets map[string]tlsSecret, cache map[string]parsedCert) (*tls.Certificate, string) {
	s, ok := secrets[key]
	switch {
	case !ok:
		return nil, "the Secret does not exist"
	case s.typ != api.SecretTypeTLS:
		return nil, fmt.Sprintf("the Secret is of type %q, not %s", s.typ, api.SecretTypeTLS)
	}
	if c, ok := cache[key]; ok && c.resourceVersion == s.resourceVersion {
		return c.cert, c.reason
	}
	p := parsedCert{resourceVersion: s.resourceVersion}
	c, err := api.TLSKeyPair(map[string][]byte{api.TLSCertKey: s.crt, api.TLSPrivateKeyKey: s.key})
	if err != nil {
		p.reason = err.Error() // a field and a fixed reason: no data
	} else {
		p.cert = &c
	}
	cache[key] = p
	return p.cert, p.reason
}

// defaultCertificate is the certificate of hosts without their own, as
// ingress-nginx's "fake certificate": self-signed, made at start, so
// clients see a certificate no one vouches for rather than another
// host's.
func defaultCertificate() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ingress: default certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("ingress: default certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: DefaultCertificateName, Organization: []string{"shoal"}},
		DNSNames:     []string{"ingress.local"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ingress: default certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ingress: default certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// DefaultCertificateName is the common name of the default certificate.
const DefaultCertificateName = "shoal ingress default certificate"
