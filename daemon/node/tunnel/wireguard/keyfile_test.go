package wireguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

func TestKeyForCertificateKeepsTheKeyUntilTheCertificateChanges(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t)
	cert := c.node(t, "n1", time.Now(), 0).Leaf()
	path := filepath.Join(identity.Dir(dir), KeyFile)

	k1, why, err := KeyForCertificate(dir, cert)
	if err != nil || why == "" || k1.IsZero() {
		t.Fatalf("first key: %v %q %v", k1, why, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %#o, want 0600", st.Mode().Perm())
	}
	if d, _ := os.Stat(identity.Dir(dir)); d.Mode().Perm() != 0o700 {
		t.Fatalf("identity dir mode %#o, want 0700", d.Mode().Perm())
	}

	k2, why, err := KeyForCertificate(dir, cert)
	if err != nil || why != "" || k2 != k1 {
		t.Fatalf("same certificate: new key (%q, %v)", why, err)
	}

	renewed := c.node(t, "n1", time.Now(), 0).Leaf()
	k3, why, err := KeyForCertificate(dir, renewed)
	if err != nil || k3 == k1 || !strings.Contains(why, "certificate changed") {
		t.Fatalf("renewed certificate: %q %v (same key: %v)", why, err, k3 == k1)
	}
	if k4, why, _ := KeyForCertificate(dir, renewed); k4 != k3 || why != "" {
		t.Fatalf("the rotated key was not kept: %q", why)
	}

	// A key others could read may have leaked: it is replaced.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	k5, why, err := KeyForCertificate(dir, renewed)
	if err != nil || k5 == k3 || !strings.Contains(why, "readable by others") {
		t.Fatalf("world-readable key: %q %v (same key: %v)", why, err, k5 == k3)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %#o after replacing", st.Mode().Perm())
	}

	// A damaged file is replaced, not trusted.
	if err := os.WriteFile(path, []byte(`{"privateKey":"AAAA","certificate":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if k6, why, err := KeyForCertificate(dir, renewed); err != nil || k6.IsZero() || why == "" {
		t.Fatalf("damaged file: %q %v", why, err)
	}

	if _, _, err := KeyForCertificate(dir, nil); err == nil {
		t.Fatal("no certificate accepted")
	}
}

func TestLoadNodeKeyPublishesTheSavedKeySigned(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t)
	n := c.node(t, "n1", time.Now(), 0)
	first, err := LoadNodeKey(dir, n)
	if err != nil || first.Why == "" {
		t.Fatalf("%+v %v", first, err)
	}
	again, err := LoadNodeKey(dir, n)
	if err != nil || again.Why != "" || again.Private != first.Private {
		t.Fatalf("the saved key was not reused: %+v %v", again, err)
	}
	if pub, _ := first.Private.PublicKey(); pub != first.Public {
		t.Fatal("Public is not the private key's")
	}
	if got, err := VerifyKey(again.Annotation, "n1", c.pool, time.Now()); err != nil || got != first.Public {
		t.Fatalf("annotation: %v %v", got, err)
	}
	if _, err := LoadNodeKey(dir, nil); err == nil {
		t.Fatal("no identity accepted")
	}
}
