package dns

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// FuzzHandler hands the handler every message that parses, from a pod or
// from a stranger: whatever it is, the handler answers at most once, with
// the request's id, with a message that packs, and never panics (a
// recovered panic fails the test too). A stranger never sees RA set, and
// gets nothing but REFUSED for a name outside the cluster.
func FuzzHandler(f *testing.F) {
	for _, tc := range dnsTestCases {
		m := new(mdns.Msg)
		m.SetQuestion(tc.Qname, tc.Qtype)
		b, _ := m.Pack()
		f.Add(b, false)
		m.SetEdns0(4096, true)
		b, _ = m.Pack()
		f.Add(b, true)
	}
	outside := new(mdns.Msg)
	outside.SetQuestion("example.com.", mdns.TypeA)
	b, _ := outside.Pack()
	f.Add(b, true)
	odd := new(mdns.Msg)
	odd.SetQuestion("ext.default.svc.cluster.local.", mdns.TypeANY)
	odd.Question = append(odd.Question, mdns.Question{Name: ".", Qtype: mdns.TypeAXFR, Qclass: mdns.ClassCHAOS})
	b, _ = odd.Pack()
	f.Add(b, false)
	f.Add([]byte{0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true)

	s := newTestServer(f, testConfig())
	serveZone(s, fixture())
	f.Fuzz(func(t *testing.T, data []byte, stranger bool) {
		m := new(mdns.Msg)
		if err := m.Unpack(data); err != nil {
			return // the server drops what does not parse
		}
		w := newRecorder()
		if stranger {
			w.remote = &net.UDPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 40000}
		}
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
			if stranger && r.RecursionAvailable {
				t.Fatalf("RA set for a stranger: %v", r)
			}
			if stranger && len(m.Question) == 1 && apexIn(s.apexes, strings.ToLower(m.Question[0].Name)) == "" &&
				r.Rcode == mdns.RcodeSuccess && len(r.Answer) > 0 && r.Answer[0].Header().Rrtype != mdns.TypePTR {
				t.Fatalf("a name outside the cluster answered to a stranger: %v", r)
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
	f.Add("ext", "default", "", "ExternalName", "\\", "", "", int32(0), "", "", "") // once a CNAME that did not pack
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

// FuzzFastPath feeds raw packets to the fast path's parser: it never
// panics, and whatever it takes, miekg's Unpack reads alike (name, type,
// class, EDNS). The fast path's answer to it is then the one ServeDNS
// gives, byte for byte.
func FuzzFastPath(f *testing.F) {
	for _, tc := range dnsTestCases {
		m := new(mdns.Msg)
		m.SetQuestion(tc.Qname, tc.Qtype)
		b, _ := m.Pack()
		f.Add(b)
		m.SetQuestion(strings.ToUpper(tc.Qname), tc.Qtype)
		m.SetEdns0(4096, true)
		b, _ = m.Pack()
		f.Add(b)
	}
	long := new(mdns.Msg) // 255 octets on the wire, the longest name
	long.SetQuestion(strings.Repeat(strings.Repeat("a", 63)+".", 3)+strings.Repeat("b", 61)+".", mdns.TypeA)
	b, _ := long.Pack()
	f.Add(b)
	f.Add([]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1})                                              // the root
	f.Add([]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 'a', 0, 0, 1, 0, 1, 0, 0, 41, 2, 0, 0, 0, 0x80, 0, 0, 0}) // OPT with DO

	s := newTestServer(f, testConfig())
	serveZone(s, fixture())
	f.Fuzz(func(t *testing.T, data []byte) {
		q, ok := parseQuery(data)
		if !ok {
			return
		}
		m := new(mdns.Msg)
		if err := m.Unpack(data); err != nil {
			t.Fatalf("taken by the fast path, but Unpack fails: %v", err)
		}
		opt := m.IsEdns0()
		switch {
		case m.Id != q.id || m.Response || m.Opcode != mdns.OpcodeQuery || m.RecursionDesired != (q.flags&flagRD != 0) ||
			m.CheckingDisabled != (q.flags&flagCD != 0):
			t.Fatalf("header %+v, parsed %+v", m.MsgHdr, q)
		case len(m.Question) != 1 || len(m.Answer) != 0 || len(m.Ns) != 0 || len(m.Extra) > 1:
			t.Fatalf("sections %v", m)
		case m.Question[0].Name != q.presentation(false) || strings.ToLower(m.Question[0].Name) != q.presentation(true):
			t.Fatalf("name %q, parsed %q", m.Question[0].Name, q.presentation(false))
		case m.Question[0].Qtype != q.qtype || m.Question[0].Qclass != mdns.ClassINET:
			t.Fatalf("question %v, parsed type %d", m.Question[0], q.qtype)
		case (opt != nil) != q.edns || (opt != nil && (opt.Do() != q.do || opt.Version() != 0)) || udpLimit(m) != q.size:
			t.Fatalf("EDNS %v, parsed %+v", opt, q)
		}

		z := s.zone.Load()
		a := s.fastAnswerOf(z, &q)
		s.turn.Store(7)
		got, _, ok := s.respond(a, &q, nil)
		if !ok {
			return // the slow path answers
		}
		s.turn.Store(7)
		w := newRecorder()
		s.ServeDNS(w, m)
		want, err := w.written()[0].Pack()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fast path answer differs from ServeDNS's\n got: %x\nwant: %x", got, want)
		}
		if p := s.Stats().Panics; p != 0 {
			t.Fatalf("%d panics", p)
		}
	})
}
