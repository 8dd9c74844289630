package podnet

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func testNode(name, cidr, ip string) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.NodeSpec{PodCIDR: cidr}}
	if ip != "" {
		n.Status.Addresses = []api.NodeAddress{{Type: api.NodeHostName, Address: name}, {Type: api.NodeInternalIP, Address: ip}}
	}
	return n
}

func nodeMap(nodes ...*api.Node) map[string]*api.Node {
	m := map[string]*api.Node{}
	for _, n := range nodes {
		m[n.Name] = n
	}
	return m
}

func routeStrings(m map[netip.Prefix]route) []string {
	var out []string
	for _, dst := range sortedPrefixes(m) {
		out = append(out, fmt.Sprintf("%s via %s (%s)", dst, m[dst].gw, m[dst].node))
	}
	return out
}

func TestDesiredRoutes(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	notReady := testNode("d", "10.244.3.0/24", "10.98.0.4")
	notReady.Status.Conditions = []api.Condition{{Type: api.NodeReady, Status: api.ConditionUnknown}}
	for _, tc := range []struct {
		name  string
		nodes map[string]*api.Node
		want  []string
	}{
		{"one route per other node", nodeMap(testNode("a", "10.244.0.0/24", "10.98.0.1"),
			testNode("b", "10.244.1.0/24", "10.98.0.2"), testNode("c", "10.244.2.0/24", "10.98.0.3")),
			[]string{"10.244.1.0/24 via 10.98.0.2 (b)", "10.244.2.0/24 via 10.98.0.3 (c)"}},
		{"a node not ready keeps its route", nodeMap(notReady), []string{"10.244.3.0/24 via 10.98.0.4 (d)"}},
		{"no claim, no route", nodeMap(testNode("b", "", "10.98.0.2")), nil},
		{"no address, no route", nodeMap(testNode("b", "10.244.1.0/24", "")), nil},
		{"an IPv6 address only, no route", nodeMap(testNode("b", "10.244.1.0/24", "fd00::2")), nil},
		{"outside the cluster CIDR, no route", nodeMap(testNode("b", "10.99.0.0/24", "10.98.0.2"),
			testNode("c", "0.0.0.0/0", "10.98.0.3"), testNode("e", "10.0.0.0/8", "10.98.0.5")), nil},
		{"a shared subnet goes to its keeper", nodeMap(testNode("c", "10.244.1.0/24", "10.98.0.3"),
			testNode("b", "10.244.1.0/24", "10.98.0.2")), []string{"10.244.1.0/24 via 10.98.0.2 (b)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := routeStrings(desiredRoutes(tc.nodes, "a", cluster))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("routes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRouteChanges(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	want := map[netip.Prefix]route{
		p("10.244.1.0/24"): {dst: p("10.244.1.0/24"), gw: a("10.98.0.2"), node: "b"},
		p("10.244.2.0/24"): {dst: p("10.244.2.0/24"), gw: a("10.98.0.3"), node: "c"},
		p("10.244.3.0/24"): {dst: p("10.244.3.0/24"), gw: a("10.98.0.4"), node: "d"},
		p("10.244.4.0/24"): {dst: p("10.244.4.0/24"), gw: a("10.244.4.0"), dev: 9, node: "e"},
		p("10.244.5.0/24"): {dst: p("10.244.5.0/24"), gw: a("10.244.5.0"), dev: 9, node: "f"},
	}
	owned := map[netip.Prefix]nextHop{
		p("10.244.1.0/24"): {gw: a("10.98.0.2"), dev: 2},   // right (host-gw: any device)
		p("10.244.2.0/24"): {gw: a("10.98.0.33"), dev: 2},  // address changed
		p("10.244.7.0/24"): {gw: a("10.98.0.7"), dev: 2},   // node gone
		p("10.244.3.0/24"): {gw: a("10.98.0.4"), dev: 2},   // now someone else's too
		p("10.244.4.0/24"): {gw: a("10.244.4.0"), dev: 9},  // right (vxlan)
		p("10.244.5.0/24"): {gw: a("10.244.5.0"), dev: 11}, // the device was made again
	}
	foreign := map[netip.Prefix]bool{p("10.244.3.0/24"): true, p("10.244.9.0/24"): true, p("10.98.0.0/24"): true}
	replace, remove, blocked := routeChanges(want, owned, foreign)
	if len(replace) != 2 || replace[0].dst != p("10.244.2.0/24") || replace[0].gw != a("10.98.0.3") ||
		replace[1].dst != p("10.244.5.0/24") || replace[1].dev != 9 {
		t.Errorf("replace = %v", replace)
	}
	if !slices.Equal(remove, []netip.Prefix{p("10.244.3.0/24"), p("10.244.7.0/24")}) {
		t.Errorf("remove = %v", remove)
	}
	if len(blocked) != 1 || blocked[0].node != "d" {
		t.Errorf("blocked = %v", blocked)
	}
	// Nothing owned yet: everything not blocked is added.
	replace, remove, _ = routeChanges(want, nil, nil)
	if len(replace) != 5 || len(remove) != 0 {
		t.Errorf("from scratch: replace %v, remove %v", replace, remove)
	}
}
