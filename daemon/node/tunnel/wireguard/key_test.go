package wireguard

import (
	"crypto/ecdh"
	"testing"
)

func TestKeysAgreeAsX25519(t *testing.T) {
	a, err := NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPrivateKey()
	if a == b || a.IsZero() {
		t.Fatal("two new keys are equal or zero")
	}
	pa, _ := a.PublicKey()
	pb, _ := b.PublicKey()
	// A shared secret computed from either side is the same: the keys are
	// Curve25519 keys as WireGuard uses them.
	x := ecdh.X25519()
	sa, _ := x.NewPrivateKey(a[:])
	sb, _ := x.NewPrivateKey(b[:])
	qa, _ := x.NewPublicKey(pa[:])
	qb, _ := x.NewPublicKey(pb[:])
	s1, _ := sa.ECDH(qb)
	s2, _ := sb.ECDH(qa)
	if string(s1) != string(s2) {
		t.Fatal("shared secrets differ")
	}
	back, err := ParseKey(pa.String())
	if err != nil || back != pa {
		t.Fatalf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{"", "!!", "AAAA", Key{}.String()} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
