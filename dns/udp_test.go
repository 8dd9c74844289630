package dns

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/poll"
)

// TestFastLoopOddPackets sends packets the fast path does not take to the
// loop and to miekg's server: the answers (or none), and the stats, must
// be the same.
func TestFastLoopOddPackets(t *testing.T) {
	fast, ref, fastC, refC := fastServers(t, fixture())
	valid := packQuery(t, 1, "web.default.svc.cluster.local.", mdns.TypeA, 0, false)
	with := func(pkt []byte, f func(b []byte)) []byte {
		b := bytes.Clone(pkt)
		f(b)
		return b
	}
	opt := packQuery(t, 1, "web.default.svc.cluster.local.", mdns.TypeA, 1232, false)
	packets := map[string][]byte{
		"empty":             {},
		"short":             {0, 1, 2},
		"header only":       valid[:12],
		"cut in question":   valid[:20],
		"garbage":           []byte("hello, this is not dns at all"),
		"stray byte":        append(valid[:12:12], 0xff),
		"response":          with(valid, func(b []byte) { b[2] |= 0x80 }),
		"update":            with(valid, func(b []byte) { b[2] |= mdns.OpcodeUpdate << 3 }),
		"notify":            with(valid, func(b []byte) { b[2] |= mdns.OpcodeNotify << 3 }),
		"two questions":     with(valid, func(b []byte) { b[5] = 2 }),
		"no question":       with(valid, func(b []byte) { b[5] = 0 }),
		"answer count lies": with(valid, func(b []byte) { b[7] = 1 }),
		"AA and Z bits":     with(valid, func(b []byte) { b[2] |= 0x04; b[3] |= 0x40 }),
		"TC bit":            with(valid, func(b []byte) { b[2] |= 0x02 }),
		"chaos class":       with(valid, func(b []byte) { b[len(b)-1] = 3 }),
		"axfr":              with(valid, func(b []byte) { b[len(b)-4], b[len(b)-3] = 0, 252 }),
		"pointer name":      append(valid[:12:12], 0xc0, 12, 0, 1, 0, 1),
		"escaped label":     packQuery(t, 1, `we\.b.default.svc.cluster.local.`, mdns.TypeA, 0, false),
		"trailing bytes":    append(bytes.Clone(valid), 1, 2, 3),
		"edns version 1":    with(opt, func(b []byte) { b[len(b)-5] = 1 }),
		"edns rcode":        with(opt, func(b []byte) { b[len(b)-6] = 1 }),
		"edns option":       packQueryOpt(t, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}),
		"edns not at root":  with(opt, func(b []byte) { b[len(b)-11] = 1 }),
		"forwarded name":    packQuery(t, 1, "example.com.", mdns.TypeA, 0, false),
	}
	for name, pkt := range packets {
		t.Run(name, func(t *testing.T) {
			fastC.send(pkt)
			refC.send(pkt)
			got, want := fastC.recv(300*time.Millisecond), refC.recv(300*time.Millisecond)
			if !bytes.Equal(got, want) {
				t.Errorf("answer\n got: %x\nwant: %x", got, want)
			}
		})
	}
	if r := fastC.exchange(valid); len(r) == 0 {
		t.Fatal("the loop stopped answering")
	}
	refC.exchange(valid)
	same := func() bool {
		fs, rs := fast.Stats(), ref.Stats()
		return fs.Queries == rs.Queries && fs.Rejected == rs.Rejected && fs.Malformed == rs.Malformed &&
			equalCounts(fs.Rcodes, rs.Rcodes)
	}
	for start := time.Now(); !same() && time.Since(start) < time.Second; {
		time.Sleep(time.Millisecond) // rcodes are counted once sent
	}
	fs, rs := fast.Stats(), ref.Stats()
	if !same() {
		t.Errorf("stats\n got: %+v\nwant: %+v", fs, rs)
	}
	if fs.Malformed == 0 || fs.Rejected == 0 {
		t.Errorf("stats %+v: garbage not counted", fs)
	}
}

func packQueryOpt(t *testing.T, o mdns.EDNS0) []byte {
	m := new(mdns.Msg)
	m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
	m.Id = 1
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = []mdns.EDNS0{o}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Shutdown ends the loop: its readers, and waits for a slow-path goroutine
// forwarding to an upstream that never answers (until its timeout).
func TestFastLoopStopsAtShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig(silentUpstream(t))
	cfg.UpstreamTimeout = 300 * time.Millisecond
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	serveZone(s, fixture())
	if err := s.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0]
	c := dialRaw(t, addr)
	c.exchange(packQuery(t, 1, "web.default.svc.cluster.local.", mdns.TypeA, 0, false))
	c.send(packQuery(t, 2, "example.com.", mdns.TypeA, 0, false))
	poll.Cond(t, time.Second, "forwarding", func() bool { return s.Stats().Forwarded == 1 })
	if runtime.NumGoroutine() <= before {
		t.Fatal("no goroutine serves")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Addrs()); n != 0 {
		t.Errorf("%d listeners after Shutdown", n)
	}
	if s.Stats().Rcodes["SERVFAIL"] != 1 {
		t.Error("Shutdown did not wait for the forwarded query's answer")
	}
	poll.Cond(t, time.Second, "goroutines ended", func() bool { return runtime.NumGoroutine() <= before })
	// The address is free again.
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("address still bound: %v", err)
	}
	pc.Close()
}

// A socket bound to every address answers each query from the address it
// was sent to: asked at 127.0.0.2, an answer from 127.0.0.1 (the route's
// source) would be dropped by the connected client.
func TestListenUnspecifiedAnswersFromTheAddressAsked(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := s.listen(ctx, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	if !l.fast.pktinfo {
		t.Fatal("an unspecified address does not read packet destinations")
	}
	_, port, _ := net.SplitHostPort(l.addr.String())
	for _, host := range []string{"127.0.0.1", "127.0.0.2"} {
		for _, name := range []string{"web.default.svc.cluster.local.", "Web.default.svc.cluster.local."} {
			r := exchange(t, "udp", host+":"+port, name, mdns.TypeA) // Exchange dials: a connected socket
			if len(r.Answer) != 1 {
				t.Errorf("%s %s: answer %v", host, name, r)
			}
		}
		// The slow path too: a query with an EDNS option.
		c := dialRaw(t, host+":"+port)
		m := new(mdns.Msg)
		if err := m.Unpack(c.exchange(packQueryOpt(t, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}))); err != nil || len(m.Answer) != 1 {
			t.Errorf("%s slow path: %v %v", host, m, err)
		}
	}
}

func TestFastLoopIPv6(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := s.listen(ctx, "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	if l.fast == nil {
		t.Fatal("::1 did not get the fast loop")
	}
	c := dialRaw(t, l.addr.String())
	for id := range uint16(2) {
		m := new(mdns.Msg)
		if err := m.Unpack(c.exchange(packQuery(t, id, "Web.Default.svc.cluster.local.", mdns.TypeA, 1232, false))); err != nil {
			t.Fatal(err)
		}
		if m.Id != id || len(m.Answer) != 1 || m.Answer[0].Header().Name != "Web.Default.svc.cluster.local." {
			t.Errorf("answer %v", m)
		}
	}
}

// A record that breaks packing fails the response, or panics in ServeDNS
// (for a name to respell), which answers SERVFAIL; over the fast loop the
// same, a panic counted once, and the loop goes on.
func TestFastLoopBrokenZone(t *testing.T) {
	s, addr := listening(t, testConfig(), fixture())
	z := buildZone(s.zopts, reduceSnapshot(fixture()))
	z.nodes["broken.default.svc.cluster.local."] = &node{sets: []rrset{{typ: mdns.TypeA, rrs: []mdns.RR{nil}}}}
	z.publish(2)
	s.zone.Store(z)
	c := dialRaw(t, addr)
	for i, name := range []string{"broken.default.svc.cluster.local.", "broken.default.svc.cluster.local.",
		"BROKEN.default.svc.cluster.local.", "BROKEN.default.svc.cluster.local."} {
		m := new(mdns.Msg)
		if err := m.Unpack(c.exchange(packQuery(t, uint16(i), name, mdns.TypeA, 0, false))); err != nil {
			t.Fatal(err)
		}
		if m.Rcode != mdns.RcodeServerFailure {
			t.Errorf("%s: %s, want SERVFAIL", name, rcodeName(m.Rcode))
		}
	}
	if st := s.Stats(); st.Panics != 2 {
		t.Errorf("Panics = %d, want 2 (one per query for BROKEN)", st.Panics)
	}
	if r := exchange(t, "udp", addr, "web.default.svc.cluster.local.", mdns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after the panics: %v", r)
	}
}

// Several readers share a socket on larger machines; under load from
// several clients, every query gets its own answer.
func TestFastLoopReaders(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	s, addr := listening(t, testConfig(), fixture())
	s.mu.Lock()
	for l := range s.listeners {
		if l.fast.readers != 4 {
			t.Errorf("%d readers, want 4", l.fast.readers)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for c := range 4 {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Go(func() {
			buf := make([]byte, 1500)
			for i := range 300 {
				id := uint16(c<<12 | i)
				name := []string{"web.default.svc.cluster.local.", "nope.default.svc.cluster.local.", "DB.default.svc.cluster.local."}[i%3]
				m := new(mdns.Msg)
				m.SetQuestion(name, mdns.TypeA)
				m.Id = id
				b, _ := m.Pack()
				_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Write(b); err != nil {
					t.Error(err)
					return
				}
				n, err := conn.Read(buf)
				if err != nil || m.Unpack(buf[:n]) != nil || m.Id != id || m.Question[0].Name != name {
					t.Errorf("answer %v to %d %s: %v", m, id, name, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
