package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// keyPair makes a self-signed certificate naming hosts, as PEM.
func keyPair(t testing.TB, cn string, hosts ...string) (crt, key []byte) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: hosts, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
}

// secretOf makes a kubernetes.io/tls Secret with a certificate for hosts,
// its common name cn; version is its resourceVersion.
func secretOf(t testing.TB, ns, name, version, cn string, hosts ...string) *api.Secret {
	crt, key := keyPair(t, cn, hosts...)
	s := &api.Secret{Type: api.SecretTypeTLS, Data: map[string][]byte{api.TLSCertKey: crt, api.TLSPrivateKeyKey: key}}
	s.Kind, s.APIVersion = "Secret", "v1"
	s.Namespace, s.Name, s.ResourceVersion = ns, name, version
	return s
}

func tlsIngress(ns, name string, age time.Duration, tls []api.IngressTLS, rules ...api.IngressRule) *api.Ingress {
	return ingressOf(ns, name, age, api.IngressSpec{TLS: tls, Rules: rules})
}

func secretMap(secrets ...*api.Secret) map[string]tlsSecret {
	m := map[string]tlsSecret{}
	for _, s := range secrets {
		m[keyOf(s)] = reduceSecret(s)
	}
	return m
}

func cnOf(c *tls.Certificate) string {
	if c == nil {
		return "<default>"
	}
	return c.Leaf.Subject.CommonName
}

func TestCertificateSelection(t *testing.T) {
	a := secretOf(t, "shop", "a-tls", "1", "cert-a", "a.example.test")
	wild := secretOf(t, "shop", "wild-tls", "1", "cert-wild", "*.example.test")
	late := secretOf(t, "shop", "late-tls", "1", "cert-late", "a.example.test", "rules.example.test")
	opaque := &api.Secret{Type: "Opaque", Data: map[string][]byte{"tls.crt": []byte("secret-value-do-not-log")}}
	opaque.Namespace, opaque.Name = "shop", "opaque"
	broken := secretOf(t, "shop", "broken", "1", "cert-broken", "broken.example.test")
	broken.Data[api.TLSPrivateKeyKey] = []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1kby1ub3QtbG9n\n-----END PRIVATE KEY-----\n")
	wrongHost := secretOf(t, "shop", "other-tls", "1", "cert-other", "other.example.test")

	ings := []*api.Ingress{
		tlsIngress("shop", "old", 0, []api.IngressTLS{
			{Hosts: []string{"a.example.test"}, SecretName: "a-tls"},
			{Hosts: []string{"*.example.test"}, SecretName: "wild-tls"},
			{Hosts: []string{"missing.example.test"}, SecretName: "nope"},
			{Hosts: []string{"opaque.example.test"}, SecretName: "opaque"},
			{Hosts: []string{"broken.example.test"}, SecretName: "broken"},
			{Hosts: []string{"mismatch.example.test"}, SecretName: "other-tls"},
		}),
		// Younger: loses a.example.test; its tls entry without hosts takes
		// its rules' hosts.
		tlsIngress("shop", "young", time.Hour, []api.IngressTLS{{Hosts: []string{"a.example.test"}, SecretName: "late-tls"}, {SecretName: "late-tls"}},
			rule("rules.example.test", httpPath(api.PathTypePrefix, "/", "web")), rule("", httpPath(api.PathTypePrefix, "/", "web"))),
		// Another namespace cannot use shop's Secret.
		tlsIngress("other", "thief", 2*time.Hour, []api.IngressTLS{{Hosts: []string{"thief.example.org"}, SecretName: "a-tls"}}),
	}
	cache := map[string]parsedCert{}
	certs, problems := buildCerts(ings, secretMap(a, wild, late, opaque, broken, wrongHost), cache)
	for name, want := range map[string]string{
		"a.example.test":        "cert-a",
		"A.Example.Test.":       "cert-a",
		"b.example.test":        "cert-wild", // wildcard, one label
		"missing.example.test":  "cert-wild", // its own Secret is missing: the wildcard still covers it
		"x.y.example.test":      "<default>", // two labels: no wildcard
		"example.test":          "<default>",
		"rules.example.test":    "cert-late",
		"thief.example.org":     "<default>",
		"unrelated.example.org": "<default>",
		"":                      "<default>", // no SNI
	} {
		if got := cnOf(certs.pick(name)); got != want {
			t.Errorf("pick(%q) = %s, want %s", name, got, want)
		}
	}
	reasons := map[string]string{}
	for _, p := range problems {
		reasons[p.host] = p.ingress + " " + p.secret + ": " + p.reason
		if strings.Contains(p.reason, "secret-value") || strings.Contains(p.reason, "c2VjcmV0") {
			t.Errorf("a reason quotes the secret: %s", p.reason)
		}
	}
	for host, want := range map[string]string{
		"missing.example.test":  "shop/old shop/nope: the Secret does not exist",
		"opaque.example.test":   `shop/old shop/opaque: the Secret is of type "Opaque", not kubernetes.io/tls`,
		"broken.example.test":   "shop/old shop/broken: data[tls.key]: Invalid value: does not parse",
		"mismatch.example.test": "shop/old shop/other-tls: its certificate does not name mismatch.example.test",
		"thief.example.org":     "other/thief other/a-tls: the Secret does not exist",
	} {
		if !strings.HasPrefix(reasons[host], want) {
			t.Errorf("problem of %s: %q, want %q", host, reasons[host], want)
		}
	}
	if len(problems) != 5 {
		t.Errorf("%d problems, want 5: %v", len(problems), problems)
	}

	// A rebuild reuses the parsed pair of an unchanged Secret, and parses
	// a new version; a Secret no Ingress names any more leaves the cache.
	before := certs.pick("a.example.test")
	again, _ := buildCerts(ings, secretMap(a, wild, late, opaque, broken, wrongHost), cache)
	if again.pick("a.example.test") != before {
		t.Error("an unchanged Secret was parsed again")
	}
	a2 := secretOf(t, "shop", "a-tls", "2", "cert-a2", "a.example.test")
	renewed, _ := buildCerts(ings[:1], secretMap(a2, wild, late), cache)
	if got := cnOf(renewed.pick("a.example.test")); got != "cert-a2" {
		t.Errorf("after the Secret changed: %s", got)
	}
	if _, ok := cache["shop/late-tls"]; ok {
		t.Error("a Secret no Ingress names is still cached")
	}
}

// tlsHarness serves a proxy over HTTPS on loopback, fed by a fake source.
type tlsHarness struct {
	t    *testing.T
	src  *fakeSource
	p    *Proxy
	addr string
}

func newTLSHarness(t *testing.T, objs ...api.Object) *tlsHarness {
	t.Helper()
	src := newFakeSource(objs...)
	p := New(Config{}, testLogger(t))
	runOn(t, p, src)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.ServeTLS(ctx, ln); err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	poll.Cond(t, time.Second, "routes loaded", func() bool { return p.table.Load() != nil && p.certs.Load() != nil })
	return &tlsHarness{t: t, src: src, p: p, addr: ln.Addr().String()}
}

// get asks for https://host/path with SNI host, trusting any certificate,
// and returns the certificate's common name, the status and the body.
func (h *tlsHarness) get(host, path string) (cn string, status int, body string) {
	h.t.Helper()
	var seen string
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen = cs.PeerCertificates[0].Subject.CommonName
			return nil
		}}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, "https://"+h.addr+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("GET https://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return seen, resp.StatusCode, string(b)
}

func TestServeTLSBySNI(t *testing.T) {
	shop := backendServer(t, "shop")
	blog := backendServer(t, "blog")
	ing := tlsIngress("default", "sites", 0, []api.IngressTLS{
		{Hosts: []string{"shop.example.test"}, SecretName: "shop-tls"},
		{Hosts: []string{"blog.example.test"}, SecretName: "blog-tls"},
	},
		rule("shop.example.test", httpPath(api.PathTypePrefix, "/", "shop")),
		rule("blog.example.test", httpPath(api.PathTypePrefix, "/", "blog")),
		rule("plain.example.test", httpPath(api.PathTypePrefix, "/", "shop")))
	h := newTLSHarness(t, ing,
		serviceOf("default", "shop"), endpointsOf(t, "default", "shop", []string{hostPort(t, shop.URL)}),
		serviceOf("default", "blog"), endpointsOf(t, "default", "blog", []string{hostPort(t, blog.URL)}),
		secretOf(t, "default", "shop-tls", "1", "shop-cert", "shop.example.test"),
		secretOf(t, "default", "blog-tls", "1", "blog-cert", "blog.example.test"))

	for _, c := range []struct{ host, cert, backend string }{
		{"shop.example.test", "shop-cert", "shop"},
		{"blog.example.test", "blog-cert", "blog"},
		{"plain.example.test", DefaultCertificateName, "shop"}, // routed, but no certificate of its own
	} {
		cn, status, body := h.get(c.host, "/x")
		var r reply
		_ = json.Unmarshal([]byte(body), &r)
		if cn != c.cert || status != http.StatusOK || r.Backend != c.backend || r.XFProto != "https" || r.Host != c.host {
			t.Errorf("%s: certificate %q, %d, %+v; want %s from %s over https", c.host, cn, status, r, c.cert, c.backend)
		}
	}
	if cn, status, _ := h.get("nowhere.example.test", "/"); cn != DefaultCertificateName || status != http.StatusNotFound {
		t.Errorf("an unknown host: %q %d", cn, status)
	}

	// Certificates follow the Secrets: renewed, deleted, made again.
	h.src.put(secretOf(t, "default", "shop-tls", "2", "shop-cert-2", "shop.example.test"))
	poll.Cond(t, 10*time.Second, "the renewed certificate", func() bool { cn, _, _ := h.get("shop.example.test", "/"); return cn == "shop-cert-2" })
	h.src.del(secretOf(t, "default", "blog-tls", "1", "blog-cert", "blog.example.test"))
	poll.Cond(t, 10*time.Second, "the default certificate", func() bool {
		cn, _, _ := h.get("blog.example.test", "/")
		return cn == DefaultCertificateName
	})
	h.src.put(secretOf(t, "default", "blog-tls", "3", "blog-cert-3", "blog.example.test"))
	poll.Cond(t, 10*time.Second, "the Secret made again", func() bool { cn, _, _ := h.get("blog.example.test", "/"); return cn == "blog-cert-3" })
	// And the Ingresses: a host added to spec.tls.
	ing2 := *ing
	ing2.Spec.TLS = append(ing2.Spec.TLS, api.IngressTLS{Hosts: []string{"plain.example.test"}, SecretName: "shop-tls"})
	h.src.put(&ing2)
	poll.Cond(t, 10*time.Second, "plain's certificate", func() bool {
		cn, _, _ := h.get("plain.example.test", "/")
		return cn == DefaultCertificateName // shop-tls does not name plain.example.test
	})
	st := h.p.Stats()
	if st.TLSHosts != 2 || st.TLSHandshakes == 0 || st.TLSDefault == 0 {
		t.Errorf("stats %+v", st)
	}
}

// A Secret no Ingress names changes nothing, and is not kept beyond its
// type: other Secrets' data never sits in the proxy.
func TestIngressKeepsOnlyTLSSecrets(t *testing.T) {
	opaque := &api.Secret{Type: "Opaque", Data: map[string][]byte{"password": []byte("hunter2")}}
	opaque.Kind, opaque.APIVersion = "Secret", "v1"
	opaque.Namespace, opaque.Name = "default", "db"
	st := newState()
	st.apply(update{kind: api.KindSecret, full: true, list: []api.Object{opaque}})
	if s := st.secrets["default/db"]; s.typ != "Opaque" || s.crt != nil || s.key != nil || fmt.Sprint(s) == "" {
		t.Errorf("kept %+v", s)
	}
	st.certsDirty = false
	if st.apply(update{kind: api.KindSecret, ev: api.WatchEvent{Type: api.Modified, Object: opaque}}) || st.certsDirty {
		t.Error("a Secret no Ingress names made a rebuild")
	}
}

// A host left to the default certificate is logged once, naming the
// Ingress, the Secret and the reason, never the Secret's data.
func TestCertificateProblemsLoggedOnce(t *testing.T) {
	var buf strings.Builder
	p := New(Config{}, slog.New(slog.NewTextHandler(&buf, nil)))
	broken := secretOf(t, "shop", "broken", "1", "cert-broken", "broken.example.test")
	broken.Data[api.TLSPrivateKeyKey] = []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1kby1ub3QtbG9n\n-----END PRIVATE KEY-----\n")
	st := newState()
	st.apply(update{kind: api.KindIngress, full: true, list: []api.Object{
		tlsIngress("shop", "site", 0, []api.IngressTLS{{Hosts: []string{"broken.example.test"}, SecretName: "broken"}}),
	}})
	st.apply(update{kind: api.KindSecret, full: true, list: []api.Object{broken}})
	b := &certBuilder{cache: map[string]parsedCert{}}
	p.installCerts(st, b)
	p.installCerts(st, b)
	out := buf.String()
	if n := strings.Count(out, "served with the default certificate"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, out)
	}
	for _, want := range []string{"ingress=shop/site", "secret=shop/broken", "host=broken.example.test", "data[tls.key]"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "c2VjcmV0") || strings.Contains(out, string(broken.Data[api.TLSCertKey][30:60])) {
		t.Errorf("the log quotes the Secret:\n%s", out)
	}
}
