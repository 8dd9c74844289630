package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func mustFound(t *testing.T, name string) *Founding {
	t.Helper()
	f, err := Found(name, []net.IP{net.ParseIP("10.0.0.1")}, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFoundingIdentityVerifies(t *testing.T) {
	f := mustFound(t, "h1")
	if err := f.Node.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	leaf := f.Node.Leaf()
	if NodeName(leaf) != "h1" {
		t.Fatalf("node name %q", NodeName(leaf))
	}
	if err := leaf.VerifyHostname("10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("h1"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CA.Parse(); err != nil {
		t.Fatal(err)
	}
	// Another name under the same certificate is refused.
	other := *f.Node
	other.Name = "h2"
	if err := other.Verify(time.Now()); err == nil || !strings.Contains(err.Error(), `for node "h1"`) {
		t.Fatalf("want a name mismatch, got %v", err)
	}
	// A certificate of another CA does not verify.
	g := mustFound(t, "h1")
	mixed := *f.Node
	mixed.Trust = g.Node.Trust
	if err := mixed.Verify(time.Now()); err == nil {
		t.Fatal("a certificate of another CA verified")
	}
}

func TestRenewAfterIsTwoThirdsIn(t *testing.T) {
	// Also for a short life: the backdated NotBefore must not count.
	ca0, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	short, err := IssueSelf(ca0, nil, "h1", nil, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := short.RenewAfter(), now.Add(40*time.Second); got.Sub(want).Abs() > time.Second {
		t.Fatalf("a 1-minute certificate renews at %s, want %s", got, want)
	}
	ca, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	n, err := IssueSelf(ca, nil, "h1", nil, 90*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	got := n.RenewAfter()
	want := now.Add(60 * time.Hour)
	if d := got.Sub(want); d < -time.Second || d > time.Second {
		t.Fatalf("renew after %s, want %s", got, want)
	}
}

func TestCrossSignedChainVerifiesUnderTheOldRoot(t *testing.T) {
	old, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	next, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	cross, err := old.CrossSign(next, now)
	if err != nil {
		t.Fatal(err)
	}
	n, err := IssueSelf(next, cross, "h1", nil, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, roots := range [][]*x509.Certificate{{old.Cert}, {next.Cert}, {old.Cert, next.Cert}} {
		n.Trust = roots
		if err := n.Verify(now.Add(time.Hour)); err != nil {
			t.Fatalf("with %d roots: %v", len(roots), err)
		}
	}
	// Without the cross-signed certificate, the old root alone is not enough.
	n.Chain = n.Chain[:1]
	n.Trust = []*x509.Certificate{old.Cert}
	if err := n.Verify(now.Add(time.Hour)); err == nil {
		t.Fatal("verified without the cross-signed intermediate")
	}
}

func TestSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, "h1"); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("want ErrNoIdentity, got %v", err)
	}
	f := mustFound(t, "h1")
	if err := f.Node.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keyFile, certFile, trustFile} {
		fi, err := os.Stat(filepath.Join(Dir(dir), name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v", name, fi.Mode())
		}
	}
	n, err := Load(dir, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	if !n.Leaf().Equal(f.Node.Leaf()) || !n.Key.Equal(f.Node.Key) {
		t.Fatal("loaded identity differs")
	}
}

func TestJoinTokenFormat(t *testing.T) {
	f := mustFound(t, "h1")
	p, _ := f.CA.Parse()
	tok := JoinTokenFor(p.CA.Cert, f.Join.Secret)
	s := tok.String()
	if !strings.HasPrefix(s, "SHOAL-1-") || len(s) != len("SHOAL-1-")+52+1+26 {
		t.Fatalf("token %q", s)
	}
	got, err := ParseJoinToken(" " + s + "\n")
	if err != nil || got != tok {
		t.Fatalf("parse: %v %v", got, err)
	}
	for _, bad := range []string{"", "SHOAL-1-", s[:len(s)-1], strings.Replace(s, "SHOAL-1", "SHOAL-2", 1), s + "x", strings.ToUpper(s)} {
		if _, err := ParseJoinToken(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
	if !f.Join.Check(tok.Secret) || f.Join.Check(strings.Repeat("a", 26)) || f.Join.Check("") {
		t.Fatal("secret check")
	}
}

func TestValidateRecord(t *testing.T) {
	f := mustFound(t, "h1")
	rotated, err := rotatedState(f)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{RecordCA: f.CA, RecordJoin: f.Join, RecordKeyring: f.Keyring, RecordCA + " (rotating)": rotated}
	for k, v := range good {
		k, _, _ = strings.Cut(k, " ")
		b, _ := json.Marshal(v)
		if err := ValidateRecord(k, b, false); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if err := ValidateRecord(k, nil, true); err == nil {
			t.Fatalf("%s: tombstone accepted", k)
		}
	}
	g := mustFound(t, "h2")
	mism := *f.CA
	mism.Key = g.CA.Key // key of another CA
	notTrusted := *f.CA
	notTrusted.Trusted = g.CA.Trusted
	wrongCross := *rotated
	wrongCross.CrossSigned = g.CA.Cert // not a certificate of the current CA
	badKR := Keyring{Keys: []string{"c2hvcnQ="}, Primary: "c2hvcnQ="}
	noPrimary := Keyring{Keys: f.Keyring.Keys, Primary: g.Keyring.Primary}
	bad := []struct {
		key string
		v   any
	}{
		{RecordCA, mism}, {RecordCA, notTrusted}, {RecordCA, wrongCross}, {RecordCA, map[string]any{"generation": 1, "extra": 1}},
		{RecordJoin, JoinState{Secret: "x"}}, {RecordKeyring, badKR}, {RecordKeyring, noPrimary},
		{"x/unknown", f.Join},
	}
	for _, c := range bad {
		b, _ := json.Marshal(c.v)
		if err := ValidateRecord(c.key, b, false); err == nil {
			t.Fatalf("%s %+v accepted", c.key, c.v)
		}
	}
}

// authority is a cluster of one agent for the join handler.
type authority struct {
	f     *Founding
	taken map[string]string
}

func (a *authority) CAState() (*CAState, error)     { return a.f.CA, nil }
func (a *authority) JoinState() (*JoinState, error) { return a.f.Join, nil }
func (a *authority) Keyring() (*Keyring, error)     { return a.f.Keyring, nil }
func (a *authority) CheckJoinName(name string, ips []net.IP) error {
	if addr, ok := a.taken[name]; ok {
		return fmt.Errorf("node name %s is used by a live member at %s", name, addr)
	}
	return nil
}

func joinServer(t *testing.T, f *Founding) (string, *authority) {
	t.Helper()
	auth := &authority{f: f, taken: map[string]string{"h1": "10.0.0.1:7481"}}
	mux := http.NewServeMux()
	NewJoinHandler(auth, 0, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = NewLive(f.Node).InternalServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://"), auth
}

func TestJoinAdmitsWithTheTokenAndRefusesOthers(t *testing.T) {
	f := mustFound(t, "h1")
	addr, _ := joinServer(t, f)
	p, _ := f.CA.Parse()
	tok := JoinTokenFor(p.CA.Cert, f.Join.Secret)
	ctx := context.Background()

	j, err := Join(ctx, addr, tok, "h2", []net.IP{net.ParseIP("10.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Node.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	if NodeName(j.Node.Leaf()) != "h2" || j.Keyring.Primary != f.Keyring.Primary {
		t.Fatal("wrong certificate or keyring")
	}
	if err := j.Node.Leaf().VerifyHostname("10.0.0.2"); err != nil {
		t.Fatal(err)
	}

	refused := func(tok JoinToken, name, want string) {
		t.Helper()
		_, err := Join(ctx, addr, tok, name, nil)
		var re *RefusedError
		if !errors.As(err, &re) || !re.Permanent() || !strings.Contains(re.Message, want) {
			t.Fatalf("want a refusal containing %q, got %v", want, err)
		}
	}
	wrongSecret := tok
	wrongSecret.Secret = strings.Repeat("a", 26)
	refused(wrongSecret, "h3", "secret")
	g := mustFound(t, "x")
	gp, _ := g.CA.Parse()
	refused(JoinTokenFor(gp.CA.Cert, f.Join.Secret), "h3", "another cluster")
	refused(tok, "h1", "used by a live member")
	refused(tok, "Bad_Name", "node name")
}

func TestClientConfigChecksThePeerName(t *testing.T) {
	f := mustFound(t, "h1")
	p, _ := f.CA.Parse()
	h2, err := IssueSelf(p.CA, nil, "h2", nil, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h2.Trust = f.Node.Trust
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, PeerNode(r.TLS))
	}))
	srv.TLS = NewLive(f.Node).InternalServerConfig()
	srv.StartTLS()
	defer srv.Close()

	call := func(cfg *tls.Config) (string, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	live := NewLive(h2)
	got, err := call(live.ClientConfig("h1"))
	if err != nil || got != "h2" {
		t.Fatalf("mutual TLS: %q %v", got, err)
	}
	if _, err := call(live.ClientConfig("h3")); err == nil || !strings.Contains(err.Error(), "another node") {
		t.Fatalf("want a wrong-peer error, got %v", err)
	}
	g := mustFound(t, "h2")
	if _, err := call(NewLive(g.Node).ClientConfig("h1")); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("want a foreign-CA error, got %v", err)
	}
}
