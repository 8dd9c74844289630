package dns

import (
	"fmt"
	"net"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

func TestHandlerOddMessages(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	q := func(name string, qtype uint16) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	const web = "web.default.svc.cluster.local."
	tests := []struct {
		name  string
		msg   func() *mdns.Msg
		rcode int
	}{
		{"no question", func() *mdns.Msg { m := q(web, mdns.TypeA); m.Question = nil; return m }, mdns.RcodeFormatError},
		{"two questions", func() *mdns.Msg {
			m := q(web, mdns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}, mdns.RcodeFormatError},
		{"update", func() *mdns.Msg { m := q(web, mdns.TypeA); m.Opcode = mdns.OpcodeUpdate; return m }, mdns.RcodeNotImplemented},
		{"notify", func() *mdns.Msg { m := q(web, mdns.TypeSOA); m.Opcode = mdns.OpcodeNotify; return m }, mdns.RcodeNotImplemented},
		{"status", func() *mdns.Msg { m := q(web, mdns.TypeA); m.Opcode = mdns.OpcodeStatus; return m }, mdns.RcodeNotImplemented},
		{"chaos class", func() *mdns.Msg {
			m := q("version.bind.", mdns.TypeTXT)
			m.Question[0].Qclass = mdns.ClassCHAOS
			return m
		}, mdns.RcodeNotImplemented},
		{"any class", func() *mdns.Msg { m := q(web, mdns.TypeA); m.Question[0].Qclass = mdns.ClassANY; return m }, mdns.RcodeNotImplemented},
		{"axfr", func() *mdns.Msg { return q("cluster.local.", mdns.TypeAXFR) }, mdns.RcodeRefused},
		{"ixfr", func() *mdns.Msg { return q("cluster.local.", mdns.TypeIXFR) }, mdns.RcodeRefused},
		{"opt as question", func() *mdns.Msg { return q(web, mdns.TypeOPT) }, mdns.RcodeFormatError},
		{"type 0", func() *mdns.Msg { return q(web, mdns.TypeNone) }, mdns.RcodeFormatError},
		{"relative name", func() *mdns.Msg { m := q(web, mdns.TypeA); m.Question[0].Name = "web"; return m }, mdns.RcodeFormatError},
		{"edns version 1", func() *mdns.Msg {
			m := q(web, mdns.TypeA)
			m.SetEdns0(4096, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, mdns.RcodeBadVers},
		{"unknown type", func() *mdns.Msg { return q(web, 65280) }, mdns.RcodeSuccess},
		{"root", func() *mdns.Msg { return q(".", mdns.TypeNS) }, mdns.RcodeServerFailure}, // forwarded; no upstream
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.msg()
			got := exchangeHandler(t, s, req)
			if got.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", rcodeName(got.Rcode), rcodeName(tt.rcode))
			}
			if got.Id != req.Id || !got.Response {
				t.Errorf("reply id %d response %v, want id %d and a response", got.Id, got.Response, req.Id)
			}
			if (req.IsEdns0() != nil) != (got.IsEdns0() != nil) {
				t.Errorf("OPT in request %v, in reply %v", req.IsEdns0() != nil, got.IsEdns0() != nil)
			}
		})
	}
}

func TestHandlerIgnoresResponses(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	m := new(mdns.Msg)
	m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
	m.Response = true
	w := newRecorder()
	s.ServeDNS(w, m)
	if n := len(w.written()); n != 0 {
		t.Fatalf("answered a response with %d messages", n)
	}
	if got := s.Stats().Rejected; got != 1 {
		t.Errorf("Rejected = %d, want 1", got)
	}
}

func TestHandlerBeforeSync(t *testing.T) {
	s := newTestServer(t, testConfig())
	for _, name := range []string{"web.default.svc.cluster.local.", "5.1.244.10.in-addr.arpa.", "example.com."} {
		if got := query(t, s, name, mdns.TypeA); got.Rcode != mdns.RcodeServerFailure {
			t.Errorf("%s before the first state: %s, want SERVFAIL", name, rcodeName(got.Rcode))
		}
	}
	if s.Ready() {
		t.Error("Ready before any state")
	}
	s.SetSnapshot(fixture())
	if !s.Ready() {
		t.Error("not Ready after SetSnapshot")
	}
	if got := query(t, s, "web.default.svc.cluster.local.", mdns.TypeA); got.Rcode != mdns.RcodeSuccess || len(got.Answer) != 1 {
		t.Errorf("after SetSnapshot: %v", got)
	}
}

// panicWriter panics on the first write, as a broken connection might.
type panicWriter struct {
	*recorder
	writes int
}

func (p *panicWriter) WriteMsg(m *mdns.Msg) error {
	p.writes++
	if p.writes == 1 {
		panic("boom")
	}
	return p.recorder.WriteMsg(m)
}

func TestHandlerRecoversPanics(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	w := &panicWriter{recorder: newRecorder()}
	m := new(mdns.Msg)
	m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
	s.ServeDNS(w, m) // must not panic
	got := w.written()
	if len(got) != 1 || got[0].Rcode != mdns.RcodeServerFailure || got[0].Id != m.Id {
		t.Fatalf("after a panic: %v, want one SERVFAIL with the request's id", got)
	}
	if st := s.Stats(); st.Panics != 1 {
		t.Errorf("Panics = %d, want 1", st.Panics)
	}
	// A zone with a broken record panics in the handler; the next query
	// is answered as usual.
	z := buildZone(s.zopts, reduceSnapshot(fixture()))
	z.nodes["broken.default.svc.cluster.local."] = &node{sets: []rrset{{typ: mdns.TypeA, rrs: []mdns.RR{nil}}}}
	z.publish(2)
	s.zone.Store(z)
	if got := query(t, s, "BROKEN.default.svc.cluster.local.", mdns.TypeA); got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("broken record: %s, want SERVFAIL", rcodeName(got.Rcode))
	}
	if st := s.Stats(); st.Panics != 2 {
		t.Errorf("Panics = %d, want 2", st.Panics)
	}
	if got := query(t, s, "web.default.svc.cluster.local.", mdns.TypeA); got.Rcode != mdns.RcodeSuccess {
		t.Errorf("after the panic: %s", rcodeName(got.Rcode))
	}
}

// bigHeadless is a headless service with n ready endpoints.
func bigHeadless(n int) Snapshot {
	var ready []api.EndpointAddress
	for i := range n {
		ready = append(ready, addr(fmt.Sprintf("10.244.%d.%d", 1+i/200, 1+i%200), ""))
	}
	return Snapshot{
		Services:  []*api.Service{svc("default", "many", api.ClusterIPNone)},
		Endpoints: []*api.Endpoints{eps("default", "many", ready, nil)},
	}
}

func TestHandlerTruncatesUDP(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, bigHeadless(100))
	const name = "many.default.svc.cluster.local."
	for _, tt := range []struct {
		name     string
		tcp      bool
		edns     uint16
		maxBytes int
		tc       bool
	}{
		{"udp plain", false, 0, 512, true},
		{"udp edns 4096 capped at 1232", false, 4096, 1232, true},
		{"udp edns 100 means 512", false, 100, 512, true},
		{"tcp", true, 0, 65535, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			if tt.edns > 0 {
				m.SetEdns0(tt.edns, false)
			}
			w := newRecorder()
			if tt.tcp {
				w.local = &net.TCPAddr{IP: net.IPv4(10, 244, 1, 1), Port: 53}
			}
			s.ServeDNS(w, m)
			got := w.written()[0]
			b, err := got.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tt.maxBytes {
				t.Errorf("%d bytes, limit %d", len(b), tt.maxBytes)
			}
			if got.Truncated != tt.tc {
				t.Errorf("TC %v, want %v", got.Truncated, tt.tc)
			}
			if !tt.tc && len(got.Answer) != 100 {
				t.Errorf("%d answers, want 100", len(got.Answer))
			}
		})
	}
}

func TestHandlerRotatesAnswers(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	first := map[string]bool{}
	for range 6 {
		got := query(t, s, "db.default.svc.cluster.local.", mdns.TypeA)
		if len(got.Answer) != 3 {
			t.Fatalf("%d answers, want 3", len(got.Answer))
		}
		first[got.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(first) != 3 {
		t.Errorf("first answers over 6 queries: %v, want each of the 3 backends", first)
	}
}

func TestStatsCountRcodes(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	query(t, s, "web.default.svc.cluster.local.", mdns.TypeA)
	query(t, s, "web.default.svc.cluster.local.", mdns.TypeA)
	query(t, s, "nope.default.svc.cluster.local.", mdns.TypeA)
	st := s.Stats()
	if st.Queries != 3 || st.Rcodes["NOERROR"] != 2 || st.Rcodes["NXDOMAIN"] != 1 {
		t.Errorf("stats %+v, want 3 queries: 2 NOERROR, 1 NXDOMAIN", st)
	}
	if !st.Ready || st.Records == 0 {
		t.Errorf("stats %+v, want a ready zone with records", st)
	}
}
