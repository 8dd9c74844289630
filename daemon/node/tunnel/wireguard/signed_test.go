package wireguard

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// cluster is a test cluster's CA and the pool its agents trust.
type cluster struct {
	ca   *identity.CA
	pool *x509.CertPool
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	ca, err := identity.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &cluster{ca: ca, pool: pool}
}

// node issues a node identity valid from issued for validity.
func (c *cluster) node(t testing.TB, name string, issued time.Time, validity time.Duration) *identity.Node {
	t.Helper()
	n, err := identity.IssueSelf(c.ca, nil, name, []net.IP{net.ParseIP("10.0.0.1")}, validity, issued)
	if err != nil {
		t.Fatal(err)
	}
	n.Trust = []*x509.Certificate{c.ca.Cert}
	return n
}

func newPublic(t testing.TB) Key {
	t.Helper()
	k, err := NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := k.PublicKey()
	return p
}

func TestVerifyKeyAcceptsOnlyTheNodesOwnSignedKey(t *testing.T) {
	now := time.Now()
	c := newCluster(t)
	n1 := c.node(t, "n1", now, 0)
	pub := newPublic(t)
	signed, err := SignKey(n1, pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(signed) > 1200 {
		t.Errorf("annotation is %d bytes; want it compact", len(signed))
	}
	got, err := VerifyKey(signed, "n1", c.pool, now)
	if err != nil || got != pub {
		t.Fatalf("good key: %v %v", got, err)
	}

	other := newCluster(t)
	stranger := other.node(t, "n1", now, 0)
	strangerSigned, _ := SignKey(stranger, pub)

	parts := strings.Split(signed, ".")
	otherKey := newPublic(t)
	tampered := strings.Join([]string{parts[0], b64.EncodeToString(otherKey[:]), parts[2], parts[3]}, ".")

	// A node's valid signature over its key, with the certificate of
	// another node of the same cluster swapped in.
	n2 := c.node(t, "n2", now, 0)
	n2Signed, _ := SignKey(n2, pub)
	swapped := strings.Join([]string{parts[0], parts[1], parts[2], strings.Split(n2Signed, ".")[3]}, ".")

	expiring := c.node(t, "n1", now.Add(-2*time.Hour), time.Hour)
	expiredSigned, _ := SignKey(expiring, pub)

	// The same certificate and key, but a signature made for an older
	// certificate of the node: bound to the certificate, so refused.
	older := c.node(t, "n1", now, 0)
	older.Key = n1.Key
	olderSigned, _ := SignKey(older, pub)
	replayed := strings.Join([]string{parts[0], parts[1], strings.Split(olderSigned, ".")[2], parts[3]}, ".")

	for _, tc := range []struct {
		name, value, node string
		want              error
	}{
		{"unsigned", "", "n1", ErrNoKey},
		{"a bare key", pub.String(), "n1", ErrMalformed},
		{"another version", "v2" + signed[2:], "n1", ErrMalformed},
		{"garbage certificates", parts[0] + "." + parts[1] + "." + parts[2] + ".AAAA", "n1", ErrMalformed},
		{"tampered key", tampered, "n1", ErrBadSignature},
		{"signature for another certificate", replayed, "n1", ErrBadSignature},
		{"another node's certificate", swapped, "n1", ErrWrongNode},
		{"published on another node", signed, "n2", ErrWrongNode},
		{"other CA", strangerSigned, "n1", ErrUntrusted},
		{"expired certificate", expiredSigned, "n1", ErrExpired},
		{"oversized", signed + strings.Repeat("A", maxSigned), "n1", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := VerifyKey(tc.value, tc.node, c.pool, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", k, err, tc.want)
			}
			if !k.IsZero() {
				t.Fatal("a refused key was returned")
			}
			if !strings.Contains(err.Error(), `node "`+tc.node+`"`) || !strings.Contains(err.Error(), Annotation) {
				t.Fatalf("error does not name the node and annotation: %v", err)
			}
		})
	}
	if _, err := VerifyKey(signed, "n1", nil, now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("no roots: %v", err)
	}
}

func TestVerifyKeyFollowsACARotation(t *testing.T) {
	// During a CA rotation a node's chain carries the new CA cross-signed
	// by the old one; agents that trust only the old CA accept it.
	now := time.Now()
	old := newCluster(t)
	next := newCluster(t)
	cross, err := old.ca.CrossSign(&identity.CA{Cert: next.ca.Cert, Key: next.ca.Key}, now)
	if err != nil {
		t.Fatal(err)
	}
	n, err := identity.IssueSelf(next.ca, cross, "n1", nil, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	pub := newPublic(t)
	signed, err := SignKey(n, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyKey(signed, "n1", old.pool, now); err != nil || got != pub {
		t.Fatalf("cross-signed chain: %v %v", got, err)
	}
}

func TestSignKeyRefusesAnIdentityOfAnotherName(t *testing.T) {
	c := newCluster(t)
	n := c.node(t, "n1", time.Now(), 0)
	n.Name = "n2"
	if _, err := SignKey(n, newPublic(t)); err == nil || !strings.Contains(err.Error(), `"n1"`) {
		t.Fatalf("got %v", err)
	}
	if _, err := SignKey(nil, newPublic(t)); err == nil {
		t.Fatal("nil identity signed")
	}
}
