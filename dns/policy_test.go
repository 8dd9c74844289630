package dns

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func testNode(name string, addrs ...string) *api.Node {
	n := &api.Node{}
	n.Name = name
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, api.NodeAddress{Type: api.NodeInternalIP, Address: a})
	}
	n.Status.Addresses = append(n.Status.Addresses, api.NodeAddress{Type: api.NodeHostName, Address: name})
	return n
}

func TestSourcePolicy(t *testing.T) {
	p := newSourcePolicy(netip.MustParsePrefix("10.244.0.0/16"))
	p.setNodes(map[netip.Addr]struct{}{netip.MustParseAddr("192.168.1.10"): {}, netip.MustParseAddr("fd00::10"): {}})
	for src, want := range map[string]bool{
		"127.0.0.1":          true, // loopback
		"127.9.9.9":          true,
		"::1":                true,
		"::ffff:127.0.0.1":   true, // a mapped address is the address
		"10.244.3.7":         true, // a pod
		"::ffff:10.244.3.7":  true,
		"192.168.1.10":       true, // a node
		"fd00::10":           true,
		"192.168.1.11":       false, // its neighbour, not a node
		"10.245.0.1":         false, // next to the pod network
		"10.96.0.10":         false, // service addresses send nothing
		"8.8.8.8":            false,
		"::ffff:192.168.1.9": false,
		"":                   false, // unknown
	} {
		var a netip.Addr
		if src != "" {
			a = netip.MustParseAddr(src)
		}
		if got := p.recursion(a); got != want {
			t.Errorf("recursion(%s) = %v, want %v", src, got, want)
		}
	}
	if got := sourceOf(&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 5}); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("sourceOf TCP = %v", got)
	}
	if got := sourceOf(nil); got.IsValid() {
		t.Errorf("sourceOf(nil) = %v", got)
	}
}

// Cluster names are answered to anyone; other names are forwarded only for
// the cluster's own sources, and REFUSED to the rest, with nothing from
// the upstreams and RA clear.
func TestHandlerRefusesRecursionToStrangers(t *testing.T) {
	up := startUpstream(t, internet)
	s, _ := forwardingServer(t, up.addr)
	snap := fixture()
	snap.Nodes = []*api.Node{testNode("h1", "192.168.1.10"), testNode("h2", "192.168.1.11")}
	s.SetSnapshot(snap)
	const stranger, node, pod = "203.0.113.9", "192.168.1.11", "10.244.2.5"

	for _, src := range []string{stranger, node, pod, "127.0.0.1"} {
		r := queryFrom(t, s, src, "web.default.svc.cluster.local.", mdns.TypeA)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || !r.Authoritative {
			t.Errorf("cluster name from %s: %v", src, r)
		}
		if r.RecursionAvailable != (src != stranger) {
			t.Errorf("cluster name from %s: RA %v", src, r.RecursionAvailable)
		}
		// The reverse zones of the cluster are cluster names too.
		if r := queryFrom(t, s, src, "10.0.96.10.in-addr.arpa.", mdns.TypePTR); len(r.Answer) != 1 {
			t.Errorf("PTR from %s: %v", src, r)
		}
	}

	asked := up.queries()
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"example.com.", mdns.TypeA},
		{"big.example.", mdns.TypeA},
		{"1.2.168.192.in-addr.arpa.", mdns.TypePTR}, // outside the cluster's reverse zones
		{".", mdns.TypeNS},
	} {
		r := queryFrom(t, s, stranger, q.name, q.qtype)
		if r.Rcode != mdns.RcodeRefused || len(r.Answer)+len(r.Ns) != 0 || r.RecursionAvailable {
			t.Errorf("%s from a stranger: %v, want REFUSED and nothing else", q.name, r)
		}
	}
	if up.queries() != asked {
		t.Errorf("the upstream was asked %d times for strangers", up.queries()-asked)
	}
	if got := s.Stats().Refused; got != 4 {
		t.Errorf("Refused = %d, want 4", got)
	}

	// An ExternalName: strangers get the CNAME, not the target's records.
	r := queryFrom(t, s, stranger, "ext.default.svc.cluster.local.", mdns.TypeA)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != mdns.TypeCNAME {
		t.Errorf("ExternalName from a stranger: %v, want the CNAME alone", r)
	}
	if up.queries() != asked {
		t.Error("the upstream was asked to chase a CNAME for a stranger")
	}

	for _, src := range []string{node, pod, "127.0.0.1", "::1"} {
		if r := queryFrom(t, s, src, "example.com.", mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable {
			t.Errorf("example.com from %s: %v", src, r)
		}
	}
	if r := queryFrom(t, s, pod, "ext.default.svc.cluster.local.", mdns.TypeA); len(r.Answer) < 2 {
		t.Errorf("ExternalName from a pod: %v, want the CNAME and its target's records", r)
	}
}

// Run follows the Nodes: an address becomes a node's, and stops being one,
// as the store says; a heartbeat changes nothing.
func TestRunFollowsNodeAddresses(t *testing.T) {
	up := startUpstream(t, internet)
	src := newFakeSource(fixture())
	src.objs[api.KindNode]["h1"] = testNode("h1", "192.168.1.10")
	cfg := testConfig(up.addr)
	s := newTestServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, src)
	poll.Cond(t, 10*time.Second, "the first zone", s.Ready)

	rcode := func(from string) int { return queryFrom(t, s, from, "example.com.", mdns.TypeA).Rcode }
	if rc := rcode("192.168.1.10"); rc != mdns.RcodeSuccess {
		t.Fatalf("a listed node: %s", rcodeName(rc))
	}
	if rc := rcode("192.168.1.20"); rc != mdns.RcodeRefused {
		t.Fatalf("not a node yet: %s", rcodeName(rc))
	}
	src.send(api.Added, testNode("h2", "192.168.1.20"))
	poll.Cond(t, 10*time.Second, "h2 recurses", func() bool { return rcode("192.168.1.20") == mdns.RcodeSuccess })
	h2 := testNode("h2", "192.168.1.20")
	h2.Status.Conditions = []api.Condition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	src.send(api.Modified, h2)
	src.send(api.Deleted, testNode("h1", "192.168.1.10"))
	poll.Cond(t, 10*time.Second, "h1 refused", func() bool { return rcode("192.168.1.10") == mdns.RcodeRefused })
	if rc := rcode("192.168.1.20"); rc != mdns.RcodeSuccess {
		t.Errorf("h2 after its heartbeat: %s", rcodeName(rc))
	}
	if n := s.Stats().NodeAddrs; n != 1 {
		t.Errorf("NodeAddrs = %d, want 1", n)
	}
}
