package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// fakeUpstream is a resolver on 127.0.0.1:0, UDP and TCP, answering from
// a function and counting the questions it got by transport.
type fakeUpstream struct {
	addr     string
	udp, tcp atomic.Int32
	answer   func(q mdns.Question, m *mdns.Msg)
}

func startUpstream(t testing.TB, answer func(q mdns.Question, m *mdns.Msg)) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{answer: answer}
	pc, ln, err := bind("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs last: after the servers below are shut down
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	udp := isUDP(w)
	if udp {
		u.udp.Add(1)
	} else {
		u.tcp.Add(1)
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	u.answer(r.Question[0], m)
	if udp {
		size := mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

func (u *fakeUpstream) queries() int { return int(u.udp.Load() + u.tcp.Load()) }

func rr(s string) mdns.RR {
	r, err := mdns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

// internet answers like a small slice of the internet.
func internet(q mdns.Question, m *mdns.Msg) {
	soa := func(ttl, minttl int) mdns.RR {
		return rr(fmt.Sprintf("example. %d IN SOA ns.example. host.example. 1 2 3 4 %d", ttl, minttl))
	}
	switch q.Name {
	case "example.com.":
		if q.Qtype == mdns.TypeA {
			m.Answer = []mdns.RR{rr("example.com. 300 IN A 93.184.216.34")}
		} else {
			m.Ns = []mdns.RR{soa(3600, 3600)}
		}
	case "short.example.":
		m.Answer = []mdns.RR{rr("short.example. 10 IN A 192.0.2.1"), rr("short.example. 20 IN A 192.0.2.2")}
	case "zero.example.":
		m.Answer = []mdns.RR{rr("zero.example. 0 IN A 192.0.2.3")}
	case "nodata.example.":
		m.Ns = []mdns.RR{soa(3600, 20)}
	case "nosoa.example.":
		m.Rcode = mdns.RcodeNameError
	case "big.example.":
		for i := range 100 {
			m.Answer = append(m.Answer, rr(fmt.Sprintf("big.example. 60 IN A 198.51.100.%d", i)))
		}
	case "www.example.com.": // 44 bytes asked with EDNS, over 1,100 answered
		for i := range 70 {
			m.Answer = append(m.Answer, rr(fmt.Sprintf("www.example.com. 60 IN A 198.51.100.%d", i)))
		}
		m.Compress = true
	case "fail.example.":
		m.Rcode = mdns.RcodeServerFailure
	case "refused.example.":
		m.Rcode = mdns.RcodeRefused
	case "1.2.168.192.in-addr.arpa.":
		m.Answer = []mdns.RR{rr("1.2.168.192.in-addr.arpa. 60 IN PTR router.example.")}
	default:
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{soa(3600, 100)}
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func forwardingServer(t *testing.T, upstreams ...string) (*Server, *fakeClock) {
	t.Helper()
	cfg := testConfig(upstreams...)
	cfg.UpstreamTimeout = 300 * time.Millisecond
	s := newTestServer(t, cfg)
	serveZone(s, fixture())
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s.fwd.cache.now = clock.Now
	return s, clock
}

func TestForward(t *testing.T) {
	up := startUpstream(t, internet)
	s, _ := forwardingServer(t, up.addr)
	for _, tc := range []testCase{
		{Qname: "example.com.", Qtype: mdns.TypeA, NoAA: true,
			Answer: []string{"example.com. 60 IN A 93.184.216.34"}}, // TTLs capped at the 60 s we keep it
		{Qname: "Example.COM.", Qtype: mdns.TypeA, NoAA: true, // cached: the same question
			Answer: []string{"example.com. 60 IN A 93.184.216.34"}},
		{Qname: "example.com.", Qtype: mdns.TypeAAAA, NoAA: true,
			Ns: []string{"example. 30 IN SOA ns.example. host.example. 1 2 3 4 3600"}},
		{Qname: "missing.example.", Qtype: mdns.TypeA, NoAA: true, Rcode: mdns.RcodeNameError,
			Ns: []string{"example. 30 IN SOA ns.example. host.example. 1 2 3 4 100"}},
		{Qname: "1.2.168.192.in-addr.arpa.", Qtype: mdns.TypePTR, NoAA: true, // not a cluster reverse zone
			Answer: []string{"1.2.168.192.in-addr.arpa. 60 IN PTR router.example."}},
		{Qname: "fail.example.", Qtype: mdns.TypeA, NoAA: true, Rcode: mdns.RcodeServerFailure},
		// ExternalName: the CNAME, and the target's records from upstream.
		{Qname: "ext.default.svc.cluster.local.", Qtype: mdns.TypeA,
			Answer: []string{
				"ext.default.svc.cluster.local. 5 IN CNAME example.com.",
				"example.com. 60 IN A 93.184.216.34",
			}},
		{Qname: "ext.default.svc.cluster.local.", Qtype: mdns.TypeAAAA,
			Answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."},
			Ns:     []string{"example. 30 IN SOA ns.example. host.example. 1 2 3 4 3600"}},
	} {
		t.Run(tc.Qname+"/"+mdns.TypeToString[tc.Qtype], func(t *testing.T) {
			tc.check(t, query(t, s, tc.Qname, tc.Qtype))
		})
	}
	// example.com A was asked three times (twice directly, once behind
	// the CNAME) and AAAA twice; each went upstream once.
	st := s.Stats()
	if st.CacheHits != 3 {
		t.Errorf("CacheHits = %d, want 3", st.CacheHits)
	}
	if want := 5; up.queries() != want || int(st.Forwarded) != want {
		t.Errorf("upstream saw %d questions, Forwarded = %d; want %d", up.queries(), st.Forwarded, want)
	}
}

func TestForwardExternalNameFailures(t *testing.T) {
	up := startUpstream(t, internet)
	s, _ := forwardingServer(t, up.addr)
	snap := fixture()
	snap.Services = append(snap.Services,
		extSvc("default", "gone", "missing.example"),
		extSvc("default", "broken", "fail.example"))
	serveZone(s, snap)
	(testCase{Qname: "gone.default.svc.cluster.local.", Qtype: mdns.TypeA, Rcode: mdns.RcodeNameError,
		Answer: []string{"gone.default.svc.cluster.local. 5 IN CNAME missing.example."},
		Ns:     []string{"example. 30 IN SOA ns.example. host.example. 1 2 3 4 100"}}).
		check(t, query(t, s, "gone.default.svc.cluster.local.", mdns.TypeA))
	if got := query(t, s, "broken.default.svc.cluster.local.", mdns.TypeA); got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("CNAME to a failing name: %s, want SERVFAIL", rcodeName(got.Rcode))
	}
}

func ttlOf(m *mdns.Msg) uint32 {
	if len(m.Answer) > 0 {
		return m.Answer[0].Header().Ttl
	}
	return m.Ns[0].Header().Ttl
}

func TestForwardCacheExpiry(t *testing.T) {
	up := startUpstream(t, internet)
	for _, tt := range []struct {
		name    string
		qtype   uint16
		keep    time.Duration // still cached after this long
		ttlThen uint32        // the TTL clients see then
	}{
		{"short.example.", mdns.TypeA, 9 * time.Second, 1},               // least TTL of the set
		{"example.com.", mdns.TypeA, 59 * time.Second, 1},                // 300 s capped at 60 s
		{"missing.example.", mdns.TypeA, 29 * time.Second, 1},            // NXDOMAIN: SOA minimum 100 capped at 30
		{"nodata.example.", mdns.TypeAAAA, 19 * time.Second, 1},          // NODATA: SOA minimum 20
		{"zero.example.", mdns.TypeA, 0, 0},                              // TTL 0: never kept
		{"nosoa.example.", mdns.TypeA, 0, 0},                             // negative without SOA: never kept
		{"fail.example.", mdns.TypeA, 0, 0},                              // failures: never kept
		{"big.example.", mdns.TypeA, 59 * time.Second, 1},                // came over TCP
		{"refused.example.", mdns.TypeA, 0, 0},                           // refused: never kept
		{"1.2.168.192.in-addr.arpa.", mdns.TypePTR, 59 * time.Second, 1}, // reverse outside the cluster
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := forwardingServer(t, up.addr)
			before := up.queries()
			query(t, s, tt.name, tt.qtype)
			asked := up.queries() - before
			if asked == 0 {
				t.Fatal("not forwarded")
			}
			if tt.keep == 0 {
				query(t, s, tt.name, tt.qtype)
				if up.queries()-before != 2*asked {
					t.Errorf("answer was cached")
				}
				return
			}
			clock.Advance(tt.keep)
			got := query(t, s, tt.name, tt.qtype)
			if up.queries()-before != asked {
				t.Fatalf("not cached for %v", tt.keep)
			}
			if ttlOf(got) != tt.ttlThen {
				t.Errorf("TTL after %v = %d, want %d", tt.keep, ttlOf(got), tt.ttlThen)
			}
			clock.Advance(time.Second + time.Millisecond)
			query(t, s, tt.name, tt.qtype)
			if up.queries()-before != 2*asked {
				t.Errorf("still cached after %v", tt.keep+time.Second)
			}
		})
	}
}

func TestForwardTruncatedRetriesTCP(t *testing.T) {
	up := startUpstream(t, internet)
	s, _ := forwardingServer(t, up.addr)
	m := new(mdns.Msg)
	m.SetQuestion("big.example.", mdns.TypeA)
	w := newRecorder()
	w.local = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	s.ServeDNS(w, m)
	got := w.written()[0]
	if len(got.Answer) != 100 || got.Truncated {
		t.Errorf("%d answers, TC %v; want all 100 over TCP", len(got.Answer), got.Truncated)
	}
	if up.udp.Load() != 1 || up.tcp.Load() != 1 {
		t.Errorf("upstream saw %d UDP and %d TCP questions, want 1 and 1", up.udp.Load(), up.tcp.Load())
	}
	// Over UDP the client gets what fits, with TC, and asks again over TCP.
	got = query(t, s, "big.example.", mdns.TypeA)
	if !got.Truncated || len(got.Answer) >= 100 {
		t.Errorf("UDP answer: %d records, TC %v; want fewer, with TC", len(got.Answer), got.Truncated)
	}
}

// silentUpstream is an address that takes UDP packets and never answers.
func silentUpstream(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestForwardTriesEachUpstream(t *testing.T) {
	dead := silentUpstream(t)
	failing := startUpstream(t, func(q mdns.Question, m *mdns.Msg) { m.Rcode = mdns.RcodeServerFailure })
	good := startUpstream(t, internet)
	s, _ := forwardingServer(t, dead, failing.addr, good.addr)

	start := time.Now()
	got := query(t, s, "example.com.", mdns.TypeA)
	if got.Rcode != mdns.RcodeSuccess || len(got.Answer) != 1 {
		t.Fatalf("%v, want the good upstream's answer", got)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("took %v; want one timeout of the dead upstream (300ms)", d)
	}
	if failing.queries() != 1 {
		t.Errorf("failing upstream asked %d times, want 1", failing.queries())
	}
	if st := s.Stats(); st.Upstream != 2 {
		t.Errorf("Upstream errors = %d, want 2", st.Upstream)
	}
	// The upstream that answered is asked first from now on.
	start = time.Now()
	if got := query(t, s, "short.example.", mdns.TypeA); got.Rcode != mdns.RcodeSuccess {
		t.Fatalf("second question: %s", rcodeName(got.Rcode))
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("second question took %v: the dead upstream was tried again first", d)
	}
	if failing.queries() != 1 {
		t.Errorf("failing upstream asked %d times, want still 1", failing.queries())
	}
}

func TestForwardServfailWhenAllFail(t *testing.T) {
	dead := silentUpstream(t)
	failing := startUpstream(t, func(q mdns.Question, m *mdns.Msg) { m.Rcode = mdns.RcodeRefused })
	s, _ := forwardingServer(t, dead, failing.addr)
	for range 2 {
		got := query(t, s, "example.com.", mdns.TypeA)
		if got.Rcode != mdns.RcodeServerFailure || len(got.Answer) != 0 {
			t.Fatalf("%v, want SERVFAIL", got)
		}
	}
	if failing.queries() != 2 {
		t.Errorf("a failure was cached: upstream asked %d times, want 2", failing.queries())
	}
	_, err := s.fwd.resolve(context.Background(), "example.com.", mdns.TypeA, mdns.ClassINET)
	var ue *UpstreamError
	if !errors.Is(err, ErrUpstream) || !errors.As(err, &ue) {
		t.Errorf("resolve error %v, want an UpstreamError", err)
	}
}

func TestForwardNoUpstream(t *testing.T) {
	s, _ := forwardingServer(t)
	if got := query(t, s, "example.com.", mdns.TypeA); got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("%s, want SERVFAIL", rcodeName(got.Rcode))
	}
	_, err := s.fwd.resolve(context.Background(), "example.com.", mdns.TypeA, mdns.ClassINET)
	if !errors.Is(err, ErrNoUpstream) {
		t.Errorf("resolve error %v, want ErrNoUpstream", err)
	}
}

func TestForwardSkipsItself(t *testing.T) {
	s, _ := forwardingServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.fwd.upstreams = s.Addrs() // a host whose resolv.conf names this server
	if got := query(t, s, "example.com.", mdns.TypeA); got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("%s, want SERVFAIL", rcodeName(got.Rcode))
	}
	if st := s.Stats(); st.Forwarded != 0 || st.Queries != 1 {
		t.Errorf("Forwarded %d, Queries %d: the server asked itself", st.Forwarded, st.Queries)
	}
}
