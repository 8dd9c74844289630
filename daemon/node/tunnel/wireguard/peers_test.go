package wireguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidatePeersKeepsOnlyVerifiedDistinctPeers(t *testing.T) {
	now := time.Now()
	c := newCluster(t)
	self := newPublic(t)
	signed := func(name string, key Key) string {
		s, err := SignKey(c.node(t, name, now, 0), key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ep := netip.MustParseAddrPort("192.168.1.2:51820")
	nets := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	bKey := newPublic(t)
	other := newCluster(t)
	stranger, _ := SignKey(other.node(t, "c", now, 0), newPublic(t))
	peers := []Peer{
		{Name: "b", SignedKey: signed("b", bKey), Endpoint: ep, AllowedIPs: nets("10.1.2.0/24", "10.1.2.0/24")},
		{Name: "c", SignedKey: stranger, Endpoint: ep, AllowedIPs: nets("10.1.3.0/24")},
		{Name: "d", SignedKey: signed("d", bKey), Endpoint: ep, AllowedIPs: nets("10.1.4.0/24")},
		{Name: "e", SignedKey: signed("e", self), Endpoint: ep, AllowedIPs: nets("10.1.5.0/24")},
		{Name: "f", SignedKey: signed("f", newPublic(t)), Endpoint: ep, AllowedIPs: nets("10.1.2.128/25")},
		{Name: "g", SignedKey: signed("g", newPublic(t)), Endpoint: ep, AllowedIPs: nets("10.1.7.1/24")},
		{Name: "h", SignedKey: signed("h", newPublic(t)), Endpoint: netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), 51820), AllowedIPs: nets("10.1.8.0/24")},
		{Name: "i", SignedKey: signed("i", newPublic(t)), Endpoint: ep},
		{Name: "j", SignedKey: signed("j", newPublic(t)), Endpoint: ep, AllowedIPs: nets("0.0.0.0/0")},
		{Name: "dup", SignedKey: signed("dup", newPublic(t)), Endpoint: ep, AllowedIPs: nets("10.1.9.0/24")},
		{Name: "dup", SignedKey: signed("dup", newPublic(t)), Endpoint: ep, AllowedIPs: nets("10.1.11.0/24")},
		{Name: "k", SignedKey: signed("k", newPublic(t)), Endpoint: ep, AllowedIPs: nets("10.1.10.0/24", "fd00:1::/64")},
	}
	want, refused := validatePeers(peers, self, c.pool, now)
	for name, why := range map[string]string{
		"c": ErrUntrusted.Error(), "d": `same key as node "b"`, "e": "own key", "f": `overlap those of node "b"`,
		"g": "use 10.1.7.0/24", "h": "endpoint", "i": "no allowed IPs", "j": "everything", "dup": "listed 2 times",
	} {
		if err := refused[name]; err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("peer %s: got %v, want an error with %q", name, err, why)
		}
	}
	if !errors.Is(refused["c"], ErrUntrusted) {
		t.Errorf("the stranger's refusal does not wrap ErrUntrusted: %v", refused["c"])
	}
	if len(want) != 2 {
		t.Fatalf("configured %d peers, want b and k: %v", len(want), want)
	}
	if b := want[bKey]; b.name != "b" || len(b.allowed) != 1 || b.endpoint != ep {
		t.Fatalf("peer b: %+v (duplicate prefixes are merged)", b)
	}
	for _, p := range want {
		if p.name == "k" && len(p.allowed) != 2 {
			t.Fatalf("peer k: %+v", p)
		}
	}
	// The same list in another order gives the same answer.
	rev := make([]Peer, len(peers))
	for i, p := range peers {
		rev[len(peers)-1-i] = p
	}
	want2, refused2 := validatePeers(rev, self, c.pool, now)
	if len(want2) != len(want) || len(refused2) != len(refused) {
		t.Fatalf("order changed the outcome: %v %v", want2, refused2)
	}
}
