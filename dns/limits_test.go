package dns

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/poll"
)

// listenAsStranger serves cfg on 127.0.0.1 and treats loopback like any
// other address: not exempt from the rate limit, and not allowed to
// recurse unless recursion is set. Tests cannot send from a real
// stranger's address.
func listenAsStranger(t *testing.T, cfg Config, recursion bool) (*Server, string) {
	t.Helper()
	s := newTestServer(t, cfg)
	serveZone(s, fixture())
	s.policy.loopback = recursion
	if s.limit != nil {
		s.limit.exempt = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return s, s.Addrs()[0]
}

// A 44-byte query for a name outside the cluster drew 1,164 bytes from an
// open resolver (26 times what was sent, to whomever the source address
// names); a stranger now gets REFUSED, no larger than the query.
func TestAmplificationForStrangers(t *testing.T) {
	up := startUpstream(t, internet)
	query := packQuery(t, 1, "www.example.com.", mdns.TypeA, 1232, false)
	if len(query) != 44 {
		t.Fatalf("query of %d bytes", len(query))
	}
	factor := map[bool]float64{}
	for _, recursion := range []bool{true, false} {
		_, addr := listenAsStranger(t, testConfig(up.addr), recursion)
		resp := dialRaw(t, addr).exchange(query)
		m := new(mdns.Msg)
		if err := m.Unpack(resp); err != nil {
			t.Fatal(err)
		}
		factor[recursion] = float64(len(resp)) / float64(len(query))
		t.Logf("recursion %v: %d bytes asked, %d answered (%s, %d records): factor %.1f",
			recursion, len(query), len(resp), rcodeName(m.Rcode), len(m.Answer), factor[recursion])
		if recursion && len(m.Answer) != 70 {
			t.Errorf("a node asking: %d records, want 70", len(m.Answer))
		}
		if !recursion && (m.Rcode != mdns.RcodeRefused || len(resp) > len(query)) {
			t.Errorf("a stranger asking: %s in %d bytes, want REFUSED in at most %d", rcodeName(m.Rcode), len(resp), len(query))
		}
	}
	if factor[true] < 20 || factor[false] > 1 {
		t.Errorf("amplification %.1f for the cluster, %.1f for strangers", factor[true], factor[false])
	}
}

// Over its rate limit a source gets every second query answered empty and
// truncated (never larger than the query) and the others dropped.
func TestUDPRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimit, cfg.RateBurst = 1, 20 // one a second: no refill worth counting during the test
	s, addr := listenAsStranger(t, cfg, false)
	c := dialRaw(t, addr)
	const sent = 60
	query := packQuery(t, 7, "web.default.svc.cluster.local.", mdns.TypeA, 0, false)
	for range sent {
		c.send(query)
	}
	full, slips := 0, 0
	for {
		resp := c.recv(500 * time.Millisecond)
		if resp == nil {
			break
		}
		m := new(mdns.Msg)
		if err := m.Unpack(resp); err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Truncated && len(m.Answer) == 0:
			slips++
			if len(resp) > len(query) || m.Id != 7 || m.Question[0].Name != "web.default.svc.cluster.local." || m.RecursionAvailable {
				t.Errorf("slipped answer of %d bytes: %v", len(resp), m)
			}
		case len(m.Answer) == 1:
			full++
		default:
			t.Errorf("answer %v", m)
		}
	}
	if full < 20 || full > 22 || slips < 15 || full+slips > 45 {
		t.Errorf("%d answers and %d slips to %d queries, want the burst (20) and about half the rest", full, slips, sent)
	}
	st := s.Stats()
	if st.RateLimited != uint64(sent-full) || st.Slipped != uint64(slips) || st.Sources != 1 {
		t.Errorf("stats: rate limited %d, slipped %d, sources %d", st.RateLimited, st.Slipped, st.Sources)
	}
}

// A flood of names nobody answers (each a cache miss, each forwarded)
// holds a bounded number of goroutines: the workers, whatever the number
// of packets; queries past the queue are dropped, forwards past
// MaxForwards answered SERVFAIL at once. The zone is still answered.
func TestFloodOfNamesBoundsGoroutines(t *testing.T) {
	cfg := testConfig(silentUpstream(t))
	cfg.Workers, cfg.QueueSize, cfg.MaxForwards = 32, 256, 24
	s, addr := listening(t, cfg, fixture())
	before := runtime.NumGoroutine()

	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	})
	const senders, per = 4, 5000
	var wg sync.WaitGroup
	start := time.Now()
	for i := range senders {
		wg.Go(func() {
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for j := range per {
				m := new(mdns.Msg)
				m.SetQuestion(fmt.Sprintf("r%d-%d.example.com.", i, j), mdns.TypeA)
				b, _ := m.Pack()
				_, _ = conn.Write(b)
				if j%50 == 0 {
					time.Sleep(time.Millisecond) // do not overflow the socket's buffer at once
				}
			}
		})
	}
	// Cluster names answer all along.
	if r := exchange(t, "udp", addr, "web.default.svc.cluster.local.", mdns.TypeA); len(r.Answer) != 1 {
		t.Errorf("during the flood: %v", r)
	}
	wg.Wait()
	sent := time.Since(start)
	poll.Cond(t, 10*time.Second, "the workers idle", func() bool { return s.pool.running.Load() == 0 })
	close(stop)
	sampler.Wait()

	st := s.Stats()
	grown := peak.Load() - int64(before)
	t.Logf("%d names in %v: goroutines %d before, peak %d (+%d; %d workers, %d forwards); queries %d, forwarded %d, upstream busy %d, dropped %d",
		senders*per, sent.Round(time.Millisecond), before, peak.Load(), grown, cfg.Workers, cfg.MaxForwards, st.Queries, st.Forwarded, st.UpstreamBusy, st.Dropped)
	// The workers; per forward in flight, two short-lived ones of the
	// runtime (the dialer watching the context while the socket connects,
	// the deadline's timer when it fires); the readers, the senders and
	// the sampler. None per packet.
	if bound := int64(cfg.Workers + 2*cfg.MaxForwards + 4 + senders + 4); grown > bound {
		t.Errorf("goroutines grew by %d under the flood, bound %d", grown, bound)
	}
	if st.Forwarded > uint64(senders*per) || st.UpstreamBusy+st.Dropped == 0 {
		t.Errorf("stats %+v: the bounds were never reached", st)
	}
}

// TCP connections are bounded in all and per source, and an idle one is
// closed by the server.
func TestTCPConnectionLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxTCPConns, cfg.MaxTCPConnsPerSource = 3, 2
	s := newTestServer(t, cfg)
	serveZone(s, fixture())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx, "0.0.0.0:0"); err != nil { // so that 127.0.0.2 reaches it too
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.Addrs()[0])
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reports a connection the server closed (EOF or reset) rather
	// than one it keeps open.
	closed := func(c net.Conn, wait time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return err != nil
	}
	ask := func(c net.Conn) error {
		co := &mdns.Conn{Conn: c}
		m := new(mdns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if err := co.WriteMsg(m); err != nil {
			return err
		}
		r, err := co.ReadMsg()
		if err == nil && len(r.Answer) != 1 {
			err = fmt.Errorf("answer %v", r)
		}
		return err
	}
	a1, a2 := dial("127.0.0.1"), dial("127.0.0.1")
	defer a1.Close()
	for _, c := range []net.Conn{a1, a2} {
		if err := ask(c); err != nil {
			t.Fatalf("within the bounds: %v", err)
		}
	}
	if !closed(dial("127.0.0.1"), 2*time.Second) {
		t.Error("a third connection from one source was kept")
	}
	b1 := dial("127.0.0.2")
	if err := ask(b1); err != nil {
		t.Fatalf("another source: %v", err)
	}
	if !closed(dial("127.0.0.3"), 2*time.Second) {
		t.Error("a fourth connection in all was kept")
	}
	if got := s.Stats().TCPRejected; got != 2 {
		t.Errorf("TCPRejected = %d, want 2", got)
	}
	// A connection that never asks is closed after the read timeout (2 s;
	// one that stops asking after the idle timeout, 8 s), and its place is
	// free again.
	a2.Close()
	var silent net.Conn
	poll.Cond(t, 10*time.Second, "a2's place free", func() bool {
		silent = dial("127.0.0.4")
		return !closed(silent, 100*time.Millisecond)
	})
	start := time.Now()
	if !closed(silent, 20*time.Second) {
		t.Fatal("a silent connection was kept")
	}
	t.Logf("silent connection closed after %v", time.Since(start).Round(100*time.Millisecond))
	poll.Cond(t, 10*time.Second, "a free place", func() bool {
		c := dial("127.0.0.3")
		defer c.Close()
		return ask(c) == nil
	})
}
