package dns

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/poll"
)

// referenceUDP serves s over UDP with miekg's server, as every listener
// did before the fast path: the reference its answers must equal.
func referenceUDP(t testing.TB, s *Server) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: s, UDPSize: mdns.DefaultMsgSize,
		MsgAcceptFunc: s.accept, MsgInvalidFunc: s.invalid}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return pc.LocalAddr().String()
}

// rawClient sends packets and reads the raw answers.
type rawClient struct {
	t    testing.TB
	conn net.Conn
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn}
}

func (c *rawClient) send(pkt []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(pkt); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads the next packet, or nil after wait.
func (c *rawClient) recv(wait time.Duration) []byte {
	c.t.Helper()
	buf := make([]byte, 65535)
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := c.conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func (c *rawClient) exchange(pkt []byte) []byte {
	c.t.Helper()
	c.send(pkt)
	b := c.recv(2 * time.Second)
	if b == nil {
		c.t.Fatalf("no answer to %x", pkt)
	}
	return b
}

// packQuery makes a query packet.
func packQuery(t testing.TB, id uint16, name string, qtype uint16, edns uint16, do bool) []byte {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	if edns > 0 {
		m.SetEdns0(edns, do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mixCase spells a name in random case, as resolvers using 0x20 do.
func mixCase(r *rand.Rand, name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'a' <= c && c <= 'z' && r.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// fastServers are two servers of the same zone: one listening as every
// listener does now, one behind miekg's server as before.
func fastServers(t *testing.T, snap Snapshot) (fast, ref *Server, fastC, refC *rawClient) {
	t.Helper()
	fast, addr := listening(t, testConfig(), snap)
	ref = newTestServer(t, testConfig())
	serveZone(ref, snap)
	return fast, ref, dialRaw(t, addr), dialRaw(t, referenceUDP(t, ref))
}

func TestFastPathMatchesServeDNS(t *testing.T) {
	big := bigHeadless(100)
	snap := fixture()
	snap.Services = append(snap.Services, big.Services...)
	snap.Endpoints = append(snap.Endpoints, big.Endpoints...)
	fast, ref, fastC, refC := fastServers(t, snap)
	rnd := rand.New(rand.NewPCG(1, 2))

	type variant struct {
		edns uint16
		do   bool
	}
	variants := []variant{{0, false}, {512, false}, {1232, false}, {4096, true}, {100, false}}
	names := map[string]uint16{"many.default.svc.cluster.local.": mdns.TypeA} // truncated
	for _, tc := range dnsTestCases {
		names[tc.Qname] = tc.Qtype
	}
	id := uint16(0)
	for name, qtype := range names {
		for _, v := range variants {
			for _, spelled := range []string{name, strings.ToLower(name), mixCase(rnd, name), strings.ToUpper(name)} {
				id++
				pkt := packQuery(t, id, spelled, qtype, v.edns, v.do)
				pkt[2] ^= byte(id & 1)    // RD on and off
				pkt[3] |= byte(id&2) << 3 // CD sometimes
				var got [2][]byte
				for i := range got { // a miss, then a hit
					fast.turn.Store(uint32(id))
					got[i] = fastC.exchange(pkt)
				}
				ref.turn.Store(uint32(id))
				want := refC.exchange(pkt)
				for i, g := range got {
					if !bytes.Equal(g, want) {
						t.Errorf("%s %s edns %d (%d): answer %d differs from ServeDNS's\n got: %x\nwant: %x",
							spelled, mdns.TypeToString[qtype], v.edns, id, i, g, want)
					}
				}
				q, ok := parseQuery(pkt)
				if !ok {
					t.Fatalf("%s: the fast path does not take %x", spelled, pkt)
				}
				if a := fast.zone.Load().answers.get(q.key(nil)); a == nil {
					t.Errorf("%s %s: no cached answer", spelled, mdns.TypeToString[qtype])
				} else if a.slow != (name == "ext.default.svc.cluster.local." && qtype != mdns.TypeCNAME) {
					t.Errorf("%s %s: slow %v", spelled, mdns.TypeToString[qtype], a.slow)
				}
			}
		}
	}
	// Rcodes are counted once sent: a moment after the client has them.
	poll.Cond(t, time.Second, "stats of the fast path twice the reference's", func() bool {
		fs, rs := fast.Stats(), ref.Stats()
		return fs.Queries == 2*rs.Queries && fs.Truncated == 2*rs.Truncated && fs.Rcodes["NXDOMAIN"] == 2*rs.Rcodes["NXDOMAIN"]
	})
}

func TestFastPathRotates(t *testing.T) {
	s, addr := listening(t, testConfig(), fixture())
	c := dialRaw(t, addr)
	for _, tt := range []struct {
		name  string
		qtype uint16
		n     int
	}{
		{"db.default.svc.cluster.local.", mdns.TypeA, 3},
		{"_pg._tcp.db.default.svc.cluster.local.", mdns.TypeSRV, 3},
		{"web.default.svc.cluster.local.", mdns.TypeSRV, 2},
	} {
		first := map[string]bool{}
		for i := range 2 * tt.n {
			m := new(mdns.Msg)
			if err := m.Unpack(c.exchange(packQuery(t, uint16(i), tt.name, tt.qtype, 0, false))); err != nil {
				t.Fatal(err)
			}
			if len(m.Answer) != tt.n {
				t.Fatalf("%s: %d answers, want %d", tt.name, len(m.Answer), tt.n)
			}
			first[m.Answer[0].String()] = true
		}
		if len(first) != tt.n {
			t.Errorf("%s: first answers over %d queries: %v, want each of %d", tt.name, 2*tt.n, first, tt.n)
		}
	}
	if s.zone.Load().answers.size() == 0 {
		t.Error("nothing cached")
	}
}

func TestFastPathSeesZoneChanges(t *testing.T) {
	s, addr := listening(t, testConfig(), fixture())
	c := dialRaw(t, addr)
	ask := func(id uint16) *mdns.Msg {
		m := new(mdns.Msg)
		if err := m.Unpack(c.exchange(packQuery(t, id, "web.default.svc.cluster.local.", mdns.TypeA, 0, false))); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for i := range 3 {
		if a := ask(uint16(i)).Answer; len(a) != 1 || a[0].(*mdns.A).A.String() != "10.96.0.10" {
			t.Fatalf("before the change: %v", a)
		}
	}
	snap := fixture()
	snap.Services[0].Spec.ClusterIP = "10.96.0.11"
	s.SetSnapshot(snap) // published: the very next query sees it
	if a := ask(10).Answer; len(a) != 1 || a[0].(*mdns.A).A.String() != "10.96.0.11" {
		t.Fatalf("after the change: %v, want 10.96.0.11", a)
	}
	snap.Services = snap.Services[1:] // web is gone
	s.SetSnapshot(snap)
	if m := ask(11); m.Rcode != mdns.RcodeNameError {
		t.Fatalf("after deleting the service: %s, want NXDOMAIN", rcodeName(m.Rcode))
	}
}

func TestFastPathTruncates(t *testing.T) {
	s, addr := listening(t, testConfig(), bigHeadless(100))
	c := dialRaw(t, addr)
	for i, name := range []string{"many.default.svc.cluster.local.", "MaNy.DeFault.svc.cluster.local."} {
		for j := range 2 {
			b := c.exchange(packQuery(t, uint16(2*i+j), name, mdns.TypeA, 0, false))
			m := new(mdns.Msg)
			if err := m.Unpack(b); err != nil {
				t.Fatal(err)
			}
			if len(b) > 512 || !m.Truncated || len(m.Answer) == 0 || len(m.Answer) == 100 {
				t.Errorf("%s: %d bytes, TC %v, %d answers; want at most 512 bytes with TC", name, len(b), m.Truncated, len(m.Answer))
			}
			if m.Question[0].Name != name || m.Answer[0].Header().Name != name {
				t.Errorf("answer spelled %q %q, want %q", m.Question[0].Name, m.Answer[0].Header().Name, name)
			}
		}
	}
	if st := s.Stats(); st.Truncated != 4 || st.Queries != 4 {
		t.Errorf("stats %+v, want 4 queries truncated", st)
	}
}

func TestFastPathForwards(t *testing.T) {
	up := startUpstream(t, internet)
	s, _ := forwardingServer(t, up.addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0]
	for _, tc := range []testCase{
		{Qname: "example.com.", Qtype: mdns.TypeA, NoAA: true,
			Answer: []string{"example.com. 60 IN A 93.184.216.34"}},
		{Qname: "ext.default.svc.cluster.local.", Qtype: mdns.TypeA,
			Answer: []string{
				"ext.default.svc.cluster.local. 5 IN CNAME example.com.",
				"example.com. 60 IN A 93.184.216.34",
			}},
		{Qname: "web.default.svc.cluster.local.", Qtype: mdns.TypeA,
			Answer: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
	} {
		for range 2 {
			tc.check(t, exchange(t, "udp", addr, tc.Qname, tc.Qtype))
		}
	}
	poll.Cond(t, time.Second, "6 queries answered", func() bool {
		st := s.Stats()
		return st.Queries == 6 && st.Rcodes["NOERROR"] == 6
	})
	if up.queries() != 1 {
		t.Errorf("upstream asked %d times, want once (then cached)", up.queries())
	}
}

func TestFastPathCacheBound(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	z := s.zone.Load()
	var key []byte
	for i := range maxCachedAnswers + 10 {
		pkt := packQuery(t, 1, "nope-"+strconv.Itoa(i)+".default.svc.cluster.local.", mdns.TypeA, 0, false)
		if _, p, ok := s.fastReply(pkt, nil, &key, true); !ok || p.rcode != mdns.RcodeNameError {
			t.Fatalf("query %d: NXDOMAIN not answered on the fast path", i)
		}
	}
	if n := z.answers.size(); n != maxCachedAnswers {
		t.Errorf("%d answers cached, want the bound %d", n, maxCachedAnswers)
	}
}

func TestAnswerCache(t *testing.T) {
	var c answerCache
	key := func(i int) []byte { return []byte("k" + strconv.Itoa(i)) }
	if c.get(key(0)) != nil {
		t.Fatal("an empty cache has an entry")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := key((i + 50*g) % 100)
				if a := c.get(k); a != nil && a.name != string(k) {
					t.Errorf("entry %q under %q", a.name, k)
				}
				c.put(string(k), &fastAnswer{name: string(k)}, 10)
			}
		})
	}
	wg.Wait()
	// Reads that miss the published map publish the new one, once they
	// have missed it as often as it has entries.
	for range 100 {
		for i := range 100 {
			if a := c.get(key(i)); a == nil || a.name != string(key(i)) {
				t.Fatalf("entry %d: %v", i, a)
			}
		}
		if !c.read.Load().amended {
			break
		}
	}
	read := c.read.Load()
	if read.amended || len(read.m) != 100 || c.size() != 100 {
		t.Errorf("published %d entries (amended %v), size %d; want all 100 published", len(read.m), read.amended, c.size())
	}
}
