package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// testCertificate makes a self-signed certificate for host: its PEM
// certificate and key, and a pool that trusts it.
func testCertificate(t *testing.T, host string) (crt, key []byte, roots *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(leaf)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}), roots
}

func tlsSecretYAML(name string, crt, key []byte) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n",
		name, base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))
}

// httpsGet asks the ingress at addr for https://host/path with SNI host.
// With roots it verifies the certificate against them (and host); without,
// it takes any. It returns the common name of the certificate served.
func httpsGet(addr, host, path string, roots *x509.CertPool) (cn, body string, err error) {
	cfg := &tls.Config{ServerName: host, RootCAs: roots, InsecureSkipVerify: roots == nil,
		VerifyConnection: func(cs tls.ConnectionState) error {
			cn = cs.PeerCertificates[0].Subject.CommonName
			return nil
		}}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
	if err != nil {
		return "", "", err
	}
	req.Host = host
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return cn, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return cn, string(b), fmt.Errorf("%s: %s", resp.Status, b)
	}
	return cn, string(b), err
}

const tlsSites = `apiVersion: v1
kind: Pod
metadata: {name: shop, labels: {site: shop}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: blog, labels: {site: blog}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {site: shop}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: blog}
spec:
  selector: {site: blog}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: sites}
spec:
  tls:
  - {hosts: [shop.example.test], secretName: shop-tls}
  - {hosts: [blog.example.test], secretName: blog-tls}
  rules:
  - host: shop.example.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]}
  - host: blog.example.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: blog, port: {number: 80}}}}]}
  - host: plain.example.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]}
`

// An Ingress with two TLS hosts, each with its own kubernetes.io/tls
// Secret: HTTPS with SNI gets each host its own certificate (verified
// against it) and routes to its backend; a host without TLS config gets
// the default certificate.
func TestIngressTLS(t *testing.T) {
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAgent(t, "--ingress-tls-addr", tlsAddr)

	shopCrt, shopKey, shopRoots := testCertificate(t, "shop.example.test")
	blogCrt, blogKey, blogRoots := testCertificate(t, "blog.example.test")

	// A Secret whose key is not one is refused, naming the field, without
	// a byte of it in the answer.
	canary := []byte("canary-7f3a9c-not-a-private-key")
	_, errOut, err := a.shoalIn([]byte(tlsSecretYAML("broken-tls", shopCrt, canary)), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "data[tls.key]") || strings.Contains(errOut, "canary-7f3a9c") ||
		strings.Contains(errOut, base64.StdEncoding.EncodeToString(canary)) {
		t.Fatalf("a broken TLS Secret: %v %s", err, errOut)
	}

	manifest := tlsSecretYAML("shop-tls", shopCrt, shopKey) + "---\n" + tlsSecretYAML("blog-tls", blogCrt, blogKey) + "---\n" + tlsSites
	if _, errOut, err := a.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	for _, c := range []struct {
		host  string
		roots *x509.CertPool
		cn    string
		pod   string
	}{
		{"shop.example.test", shopRoots, "shop.example.test", "shop"},
		{"blog.example.test", blogRoots, "blog.example.test", "blog"},
		{"plain.example.test", nil, "shoal ingress default certificate", "shop"},
	} {
		poll.Until(t, 90*time.Second, c.host+" over HTTPS", func() error {
			cn, body, err := httpsGet(tlsAddr, c.host, "/hostname", c.roots)
			if err != nil {
				return err
			}
			if cn != c.cn || strings.TrimSpace(body) != c.pod {
				return fmt.Errorf("certificate %q, body %q; want %q from %s", cn, body, c.cn, c.pod)
			}
			return nil
		})
	}
	// The backend hears that the client came over HTTPS.
	_, body, err := httpsGet(tlsAddr, "shop.example.test", "/echo", shopRoots)
	var echo struct {
		Headers map[string]string `json:"headers"`
	}
	if err != nil || json.Unmarshal([]byte(body), &echo) != nil || echo.Headers["X-Forwarded-Proto"] != "https" {
		t.Errorf("echo over HTTPS: %v %s", err, body)
	}
	// A host no Ingress names gets the default certificate, never another
	// host's, and a client that checks refuses it.
	if cn, _, _ := httpsGet(tlsAddr, "other.example.test", "/hostname", nil); cn != "shoal ingress default certificate" {
		t.Errorf("an unknown host: certificate %q", cn)
	}
	if _, _, err := httpsGet(tlsAddr, "other.example.test", "/hostname", shopRoots); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a checking client took the default certificate: %v", err)
	}
}
