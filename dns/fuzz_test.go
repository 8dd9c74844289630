package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// FuzzHandler hands the handler every message that parses: whatever it is,
// the handler answers at most once, with the request's id, with a message
// that packs, and never panics (a recovered panic fails the test too).
func FuzzHandler(f *testing.F) {
	for _, tc := range dnsTestCases {
		m := new(mdns.Msg)
		m.SetQuestion(tc.Qname, tc.Qtype)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(4096, true)
		b, _ = m.Pack()
		f.Add(b)
	}
	odd := new(mdns.Msg)
	odd.SetQuestion("ext.default.svc.cluster.local.", mdns.TypeANY)
	odd.Question = append(odd.Question, mdns.Question{Name: ".", Qtype: mdns.TypeAXFR, Qclass: mdns.ClassCHAOS})
	b, _ := odd.Pack()
	f.Add(b)
	f.Add([]byte{0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0})

	s := newTestServer(f, testConfig())
	serveZone(s, fixture())
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(data); err != nil {
			return // the server drops what does not parse
		}
		w := newRecorder()
		s.ServeDNS(w, m)
		got := w.written()
		switch {
		case m.Response && len(got) != 0:
			t.Fatalf("answered a response: %v", got)
		case !m.Response && len(got) != 1:
			t.Fatalf("%d replies to %v", len(got), m)
		}
		for _, r := range got {
			if r.Id != m.Id || !r.Response {
				t.Fatalf("reply id %d response %v to id %d", r.Id, r.Response, m.Id)
			}
		}
		if p := s.Stats().Panics; p != 0 {
			t.Fatalf("%d panics recovered for %v", p, m)
		}
	})
}

// FuzzBuildZone builds zones from odd objects: the build never panics, is
// deterministic, and every record it makes goes on the wire.
func FuzzBuildZone(f *testing.F) {
	f.Add("web", "default", "10.96.0.10", "", "", "http", "TCP", int32(80), "10.244.1.5", "web-0", "10.244.1.5")
	f.Add("db", "default", "None", "", "", "", "", int32(5432), "fd00::1", "", "fd00::1")
	f.Add("ext", "default", "", "ExternalName", "Example.COM.", "", "", int32(0), "", "", "")
	f.Add("x", "y", "::ffff:1.2.3.4", "ExternalName", "1.2.3.4", "_http", "udp", int32(70000), "1.2.3.4%eth0", "Host", "0.0.0.0")
	f.Add("a", "b", "1.2.3.4", "ExternalName", "a\\.b..c", "p", "SCTP", int32(-1), "255.255.255.255", "-x-", "10.244.0.0")
	opts := zoneOptions{domain: "cluster.local.", ttl: 5, reverse: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00::/120")}}
	f.Fuzz(func(t *testing.T, name, ns, clusterIP, typ, external, portName, proto string, port int32, epIP, hostname, podIP string) {
		s := &api.Service{}
		s.Name, s.Namespace = name, ns
		s.Spec.Type, s.Spec.ClusterIP, s.Spec.ExternalName = typ, clusterIP, external
		s.Spec.ClusterIPs = []string{clusterIP, epIP}
		s.Spec.Ports = []api.ServicePort{{Name: portName, Protocol: proto, Port: port}}
		e := eps(ns, name, []api.EndpointAddress{addr(epIP, hostname), addr(podIP, "")}, []api.EndpointAddress{addr(epIP, portName)},
			api.EndpointPort{Name: portName, Protocol: proto, Port: port})
		p := testPod(ns, name, podIP)
		p.Status.PodIPs = []api.PodIP{{IP: epIP}}
		headless := *s
		headless.Name += "h"
		headless.Spec.ClusterIP = api.ClusterIPNone
		eh := *e
		eh.Name += "h"
		snap := Snapshot{Services: []*api.Service{s, &headless}, Endpoints: []*api.Endpoints{e, &eh}, Pods: []*api.Pod{p}}

		z := buildZone(opts, reduceSnapshot(snap))
		if again := buildZone(opts, reduceSnapshot(snap)); !z.equal(again) {
			t.Fatal("two builds of the same state differ")
		}
		z.publish(1)
		for owner, n := range z.nodes {
			if _, ok := mdns.IsDomainName(owner); !ok {
				t.Fatalf("owner %q is not a domain name", owner)
			}
			for _, set := range n.sets {
				m := new(mdns.Msg)
				m.SetQuestion(owner, mdns.TypeANY)
				m.Answer = set.rrs
				if _, err := m.Pack(); err != nil {
					t.Fatalf("records of %q do not pack: %v\n%v", owner, err, set.rrs)
				}
			}
			for _, qt := range []uint16{mdns.TypeA, mdns.TypeSRV, mdns.TypeANY} {
				z.lookup(owner, qt)
			}
		}
		for _, qn := range []string{
			name + "." + ns + ".svc.cluster.local.",
			"_" + portName + "._" + proto + "." + name + "." + ns + ".svc.cluster.local.",
			hostname + "." + name + "h." + ns + ".svc.cluster.local.",
			podIP + "." + ns + ".pod.cluster.local.",
		} {
			if _, ok := mdns.IsDomainName(qn); ok {
				z.lookup(qn, mdns.TypeA)
			}
		}
	})
}
