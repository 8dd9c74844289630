package dns

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/poll"
)

// listening starts a server with the fixture on 127.0.0.1:0.
func listening(t *testing.T, cfg Config, snap Snapshot) (*Server, string) {
	t.Helper()
	s := newTestServer(t, cfg)
	serveZone(s, snap)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addrs := s.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs = %v, want one", addrs)
	}
	return s, addrs[0]
}

func exchange(t *testing.T, network, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", network, name, err)
	}
	return r
}

func TestServerUDPAndTCP(t *testing.T) {
	big := bigHeadless(100)
	snap := fixture()
	snap.Services = append(snap.Services, big.Services...)
	snap.Endpoints = append(snap.Endpoints, big.Endpoints...)
	_, addr := listening(t, testConfig(), snap)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			for _, tc := range dnsTestCases {
				tc.check(t, exchange(t, network, addr, tc.Qname, tc.Qtype))
			}
			r := exchange(t, network, addr, "many.default.svc.cluster.local.", mdns.TypeA)
			if network == "udp" && (!r.Truncated || len(r.Answer) == 100) {
				t.Errorf("UDP: TC %v with %d answers, want truncated", r.Truncated, len(r.Answer))
			}
			if network == "tcp" && (r.Truncated || len(r.Answer) != 100) {
				t.Errorf("TCP: TC %v with %d answers, want all 100", r.Truncated, len(r.Answer))
			}
		})
	}
}

func TestServerSurvivesGarbage(t *testing.T) {
	s, addr := listening(t, testConfig(), fixture())
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	valid := new(mdns.Msg)
	valid.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
	packed, _ := valid.Pack()
	noQuestion := new(mdns.Msg)
	nq, _ := noQuestion.Pack()
	for _, b := range [][]byte{
		{},
		{0x01},
		[]byte("hello, this is not dns at all"),
		packed[:15],                  // cut inside the question
		append(packed[:12:12], 0xff), // header and one stray byte
		nq,                           // no question: FORMERR
	} {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Still answering, over both transports.
	if r := exchange(t, "udp", addr, "web.default.svc.cluster.local.", mdns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after garbage: %v", r)
	}
	tcp, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tcp.Write([]byte{0x00, 0x05, 1, 2, 3, 4, 5})
	tcp.Close()
	if r := exchange(t, "tcp", addr, "web.default.svc.cluster.local.", mdns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after garbage: %v", r)
	}
	poll.Cond(t, time.Second, "garbage counted", func() bool {
		st := s.Stats()
		return st.Malformed+st.Rejected >= 4
	})
	t.Logf("stats after garbage: %+v", s.Stats())
}

func TestListenStopsWithItsContext(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if err := s.Listen(ctx1, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	first := s.Addrs()[0]
	if err := s.Listen(ctx2, "127.0.0.1:0"); err != nil { // added later, as a bridge gateway is
		t.Fatal(err)
	}
	if n := len(s.Addrs()); n != 2 {
		t.Fatalf("%d addresses, want 2", n)
	}
	cancel1()
	poll.Cond(t, 10*time.Second, "first listener stopped", func() bool { return len(s.Addrs()) == 1 })
	second := s.Addrs()[0]
	if second == first {
		t.Fatal("the wrong listener stopped")
	}
	exchange(t, "udp", second, "web.default.svc.cluster.local.", mdns.TypeA)
	// The first address is free again.
	pc, err := net.ListenPacket("udp", first)
	if err != nil {
		t.Errorf("first address still bound: %v", err)
	} else {
		pc.Close()
	}
}

func TestServeReturnsWithContext(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0", "127.0.0.1:0") }()
	poll.Cond(t, 10*time.Second, "two listeners", func() bool { return len(s.Addrs()) == 2 })
	exchange(t, "tcp", s.Addrs()[1], "web.default.svc.cluster.local.", mdns.TypeA)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if n := len(s.Addrs()); n != 0 {
		t.Errorf("%d listeners after Serve returned", n)
	}
}

func TestServeAddressInUse(t *testing.T) {
	s, addr := listening(t, testConfig(), fixture())
	err := s.Serve(context.Background(), "127.0.0.1:0", addr)
	if err == nil {
		t.Fatal("Serve on a taken address succeeded")
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not carry the net.OpError", err)
	}
	if n := len(s.Addrs()); n != 1 {
		t.Errorf("%d listeners after the failed Serve, want only the first one", n)
	}
}

func TestListenAfterShutdown(t *testing.T) {
	s, err := New(testConfig(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Addrs()); n != 0 {
		t.Errorf("%d listeners after Shutdown", n)
	}
	if err := s.Listen(context.Background(), "127.0.0.1:0"); !errors.Is(err, ErrShutdown) {
		t.Errorf("Listen after Shutdown: %v, want ErrShutdown", err)
	}
}
