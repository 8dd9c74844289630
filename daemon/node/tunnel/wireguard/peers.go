package wireguard

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Peer is another node as the tunnel reaches it.
type Peer struct {
	// Name of the node; its certificate must carry it.
	Name string
	// SignedKey is the node's Annotation value (SignKey): the tunnel
	// configures only keys it has verified.
	SignedKey string
	// Endpoint is the node's address and WireGuard port.
	Endpoint netip.AddrPort
	// AllowedIPs are the addresses the node may send from and is sent
	// to through the tunnel: its pod subnet.
	AllowedIPs []netip.Prefix
}

type configured struct {
	name     string
	endpoint netip.AddrPort
	allowed  []netip.Prefix
}

// validatePeers returns the peers to configure, by key, and why the
// others are refused; self is this node's public key.
func validatePeers(peers []Peer, self Key, roots *x509.CertPool, now time.Time) (map[Key]configured, map[string]error) {
	refused := map[string]error{}
	sorted := slices.Clone(peers)
	slices.SortFunc(sorted, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	want := map[Key]configured{}
	listed := map[string]int{}
	for _, p := range peers {
		listed[p.Name]++
	}
	var taken []netip.Prefix
	var claimedBy []string
	for _, p := range sorted {
		refuse := func(format string, args ...any) {
			refused[p.Name] = fmt.Errorf("wireguard peer %q: "+format, append([]any{p.Name}, args...)...)
		}
		switch {
		case p.Name == "":
			refuse("no Name")
			continue
		case listed[p.Name] > 1:
			// Which entry is right cannot be told: neither is used.
			refuse("listed %d times", listed[p.Name])
			continue
		}
		if !p.Endpoint.IsValid() || p.Endpoint.Port() == 0 || p.Endpoint.Addr().IsUnspecified() {
			refuse("endpoint %q is not an address and port", p.Endpoint)
			continue
		}
		if len(p.AllowedIPs) == 0 {
			refuse("no allowed IPs (its pod subnet)")
			continue
		}
		allowed, err := normalise(p.AllowedIPs)
		if err != nil {
			refuse("%v", err)
			continue
		}
		if i := overlapping(taken, allowed); i >= 0 {
			refuse("allowed IPs %v overlap those of node %q", allowed, claimedBy[i])
			continue
		}
		key, err := VerifyKey(p.SignedKey, p.Name, roots, now)
		if err != nil {
			refused[p.Name] = err
			continue
		}
		if key == self {
			refuse("has this node's own key")
			continue
		}
		if other, ok := want[key]; ok {
			refuse("has the same key as node %q", other.name)
			continue
		}
		want[key] = configured{name: p.Name, endpoint: p.Endpoint, allowed: allowed}
		for range allowed {
			claimedBy = append(claimedBy, p.Name)
		}
		taken = append(taken, allowed...)
	}
	return want, refused
}

// normalise checks allowed prefixes and sorts them.
func normalise(in []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if !p.IsValid() {
			return nil, fmt.Errorf("allowed IP %q is not a prefix", p)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("allowed IP %s is not a network address (use %s)", p, p.Masked())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("allowed IP %s would route everything to one node", p)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	out = slices.Compact(out)
	return out, nil
}

// overlapping is the index in taken of a prefix that overlaps one of ps, or -1.
func overlapping(taken, ps []netip.Prefix) int {
	for i, a := range taken {
		for _, b := range ps {
			if a.Overlaps(b) {
				return i
			}
		}
	}
	return -1
}
