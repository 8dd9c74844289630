package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func TestBearerTokensAndCertificates(t *testing.T) {
	good, hash, err := api.NewBearerToken("ci")
	if err != nil {
		t.Fatal(err)
	}
	expiredTok, expiredHash, _ := api.NewBearerToken("old")
	past := api.NewTime(time.Now().Add(-time.Minute))
	c := staticCache(testPolicy(),
		&api.Token{ObjectMeta: api.ObjectMeta{Name: "ci"}, Spec: api.TokenSpec{Hash: hash}},
		&api.Token{ObjectMeta: api.ObjectMeta{Name: "old"}, Spec: api.TokenSpec{Hash: expiredHash, ExpirationTimestamp: &past}})
	a := NewAuthenticator(c)
	auth := func(header string) (*api.UserInfo, error) {
		r := httptest.NewRequest("GET", "/api/v1/pods", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		return a.Authenticate(r)
	}
	u, err := auth("Bearer " + good)
	if err != nil || u.Username != "ci" || !slices.Contains(u.Groups, api.GroupAuthenticated) {
		t.Fatalf("good token: %+v %v", u, err)
	}
	if u, err := auth(""); u != nil || err != nil {
		t.Fatalf("no credential: %+v %v", u, err)
	}
	_, tokSecret, _ := api.ParseBearerToken(good)
	last := "a"
	if tokSecret[51] == 'a' {
		last = "b"
	}
	for _, bad := range []string{
		"Bearer " + expiredTok,               // expired
		"Bearer ci." + tokSecret[:51] + last, // wrong secret
		"Bearer nobody." + tokSecret,         // no such token
		"Bearer " + good + "x",               // not a token
		"Basic Y2k6eA==",                     // another scheme
		"Bearer ",                            // empty
	} {
		if u, err := auth(bad); err == nil || u != nil {
			t.Errorf("%q accepted as %+v", bad, u)
		}
	}
	// A token written a moment ago, not in the snapshot yet: read from the
	// store, it works at once (the CLI hands it out as soon as it is
	// stored); one the store does not have either stays refused.
	fresh, freshHash, _ := api.NewBearerToken("fresh")
	c.src = storeOf(&api.Token{ObjectMeta: api.ObjectMeta{Name: "fresh"}, Spec: api.TokenSpec{Hash: freshHash}})
	if u, err := auth("Bearer " + fresh); err != nil || u.Username != "fresh" {
		t.Fatalf("a token stored but not yet in the snapshot: %+v %v", u, err)
	}
	if _, err := auth("Bearer nobody." + tokSecret); err == nil {
		t.Fatal("a token in neither the snapshot nor the store was accepted")
	}
	// A verified client certificate: its common name and organizations.
	r := httptest.NewRequest("GET", "/api/v1/pods", nil)
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "alice", Organization: []string{"team-a"}}}
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	u, err = a.Authenticate(r)
	if err != nil || u.Username != "alice" || !slices.Contains(u.Groups, "team-a") || !slices.Contains(u.Groups, api.GroupAuthenticated) {
		t.Fatalf("client certificate: %+v %v", u, err)
	}
	// Unverified certificates (no chain to the cluster CA) are no credential.
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if u, err := a.Authenticate(r); u != nil || err != nil {
		t.Fatalf("unverified certificate: %+v %v", u, err)
	}
}
