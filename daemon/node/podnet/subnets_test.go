package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestParseClusterCIDR(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" for ErrInvalidCIDR
	}{
		{"10.244.0.0/16", "10.244.0.0/16"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"192.168.7.0/24", "192.168.7.0/24"},
		{"10.244.0.0/25", ""},         // smaller than one node's share
		{"10.244.1.0/16", ""},         // not the network address
		{"fd00:244::/48", ""},         // IPv6
		{"10.244.0.0", ""},            // no length
		{"not-a-cidr", ""},            // garbage
		{"::ffff:10.244.0.0/112", ""}, // IPv4-mapped IPv6 is still IPv6
	} {
		got, err := ParseClusterCIDR(tc.in)
		switch {
		case tc.want == "" && !errors.Is(err, ErrInvalidCIDR):
			t.Errorf("ParseClusterCIDR(%q) = %v, %v; want ErrInvalidCIDR", tc.in, got, err)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("ParseClusterCIDR(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func claims(kv ...string) []nodeClaim {
	var out []nodeClaim
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, nodeClaim{node: kv[i], subnet: netip.MustParsePrefix(kv[i+1])})
	}
	return out
}

func TestLowestFree(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	for _, tc := range []struct {
		name    string
		cluster netip.Prefix
		claims  []nodeClaim
		want    string // "" for ErrNoSubnet
	}{
		{"nothing claimed", cluster, nil, "10.244.0.0/24"},
		{"lowest first", cluster, claims("a", "10.244.0.0/24", "b", "10.244.1.0/24"), "10.244.2.0/24"},
		{"a gap is filled", cluster, claims("a", "10.244.0.0/24", "c", "10.244.2.0/24"), "10.244.1.0/24"},
		{"order of claims does not matter", cluster, claims("z", "10.244.1.0/24", "a", "10.244.0.0/24"), "10.244.2.0/24"},
		{"a wider claim blocks every /24 it covers", cluster, claims("a", "10.244.0.0/23"), "10.244.2.0/24"},
		{"a narrower claim blocks its /24", cluster, claims("a", "10.244.0.128/25"), "10.244.1.0/24"},
		{"claims outside are ignored", cluster, claims("a", "10.245.0.0/24", "b", "192.168.0.0/24"), "10.244.0.0/24"},
		{"last one", netip.MustParsePrefix("10.1.0.0/23"), claims("a", "10.1.0.0/24"), "10.1.1.0/24"},
		{"exhausted", netip.MustParsePrefix("10.1.0.0/23"), claims("a", "10.1.0.0/24", "b", "10.1.1.0/24"), ""},
		{"a cluster of one /24, taken", netip.MustParsePrefix("10.1.0.0/24"), claims("a", "10.1.0.0/24"), ""},
		{"a whole /16 taken", cluster, claims("a", "10.244.0.0/16"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lowestFree(tc.cluster, tc.claims)
			if tc.want == "" {
				if !errors.Is(err, ErrNoSubnet) {
					t.Fatalf("lowestFree = %v, %v; want ErrNoSubnet", got, err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("lowestFree = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestClaimsOf(t *testing.T) {
	node := func(name, cidr string, cidrs ...string) *api.Node {
		return &api.Node{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.NodeSpec{PodCIDR: cidr, PodCIDRs: cidrs}}
	}
	got := claimsOf([]*api.Node{
		node("c", "10.244.2.0/24"),
		node("self", "10.244.9.0/24"),
		node("a", "", "fd00::/64", "10.244.0.0/24"), // the first IPv4 of podCIDRs
		node("b", "garbage"),                        // claims nothing
		node("d", ""),                               // no claim yet
		node("e", "10.244.3.7/24"),                  // masked
	}, "self")
	want := claims("a", "10.244.0.0/24", "c", "10.244.2.0/24", "e", "10.244.3.0/24")
	if len(got) != len(want) {
		t.Fatalf("claimsOf = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("claimsOf = %v, want %v", got, want)
		}
	}
}

func TestParseSubnet(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	for in, ok := range map[string]bool{
		"10.244.3.0/24": true,
		"10.244.3.0/25": false, // not a /24
		"10.244.3.1/24": false, // not a network address
		"10.245.0.0/24": false, // outside the cluster
		"fd00::/24":     false,
		"":              false,
	} {
		_, err := parseSubnet(in, cluster)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalidCIDR)) {
			t.Errorf("parseSubnet(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestGateway(t *testing.T) {
	if got := gatewayOf(netip.MustParsePrefix("10.244.7.0/24")); got.String() != "10.244.7.1" {
		t.Fatalf("gateway = %s", got)
	}
}

// A hundred nodes that all claimed one /24 (joined at once) and all give it
// up in the same round, each seeing the same claims: searched from their
// own points, few of them land on a /24 another also took, where each
// taking the lowest free would have all 99 take the same one.
func TestSpreadFreeSpreadsNodesMovingAtOnce(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	others := claims("h000", "10.244.0.0/24")
	taken := map[netip.Prefix][]string{}
	for i := 1; i < 100; i++ {
		name := fmt.Sprintf("h%03d", i)
		p, err := spreadFree(cluster, others, name)
		if err != nil {
			t.Fatal(err)
		}
		if p == netip.MustParsePrefix("10.244.0.0/24") {
			t.Fatalf("%s moved to the contested subnet", name)
		}
		taken[p] = append(taken[p], name)
	}
	clashes := 99 - len(taken)
	t.Logf("99 nodes moving at once took %d distinct /24s (%d clashes; the lowest free each would be 98)", len(taken), clashes)
	if clashes > 30 {
		t.Fatalf("%d of 99 moves clash: %v", clashes, taken)
	}
	// The same name always searches from the same point.
	a, _ := spreadFree(cluster, others, "h042")
	b, _ := spreadFree(cluster, others, "h042")
	if a != b {
		t.Fatalf("h042 took %s, then %s", a, b)
	}
}

func TestFreeFromWrapsAround(t *testing.T) {
	cluster := netip.MustParsePrefix("10.1.0.0/22") // four /24s
	for _, tc := range []struct {
		start uint32
		want  string
	}{{0, "10.1.1.0/24"}, {1, "10.1.1.0/24"}, {2, "10.1.3.0/24"}, {3, "10.1.3.0/24"}, {4, "10.1.1.0/24"}, {7, "10.1.3.0/24"}} {
		got, err := freeFrom(cluster, claims("a", "10.1.0.0/24", "b", "10.1.2.0/24"), tc.start)
		if err != nil || got.String() != tc.want {
			t.Errorf("freeFrom(start %d) = %v, %v; want %s", tc.start, got, err, tc.want)
		}
	}
	if _, err := freeFrom(cluster, claims("a", "10.1.0.0/22"), 5); !errors.Is(err, ErrNoSubnet) {
		t.Fatalf("all taken: %v", err)
	}
}
