package dns

import (
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// recorder is a ResponseWriter that keeps what the handler wrote.
type recorder struct {
	mu     sync.Mutex
	msgs   []*mdns.Msg
	local  net.Addr
	remote net.Addr
}

func newRecorder() *recorder {
	return &recorder{
		local:  &net.UDPAddr{IP: net.IPv4(10, 244, 1, 1), Port: 53},
		remote: &net.UDPAddr{IP: net.IPv4(10, 244, 1, 5), Port: 40000},
	}
}

func (r *recorder) LocalAddr() net.Addr  { return r.local }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *mdns.Msg) error {
	// Pack as the real writer does, so a response that cannot go on the
	// wire fails the test.
	if _, err := m.Pack(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

func (r *recorder) written() []*mdns.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// testLogger writes to the test log only with -v.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig serves the default cluster with no upstreams unless given.
func testConfig(upstreams ...string) Config {
	c := DefaultConfig()
	c.ResolvConf = ""
	c.Upstreams = upstreams
	return c
}

func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// serveZone builds the zone of snap with serial 1, so SOAs are fixed.
func serveZone(s *Server, snap Snapshot) {
	z := buildZone(s.zopts, reduceSnapshot(snap))
	z.publish(1)
	s.zone.Store(z)
}

// query runs one question through the handler and returns the only reply.
func query(t testing.TB, s *Server, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return exchangeHandler(t, s, m)
}

// queryFrom runs one question through the handler as asked from src.
func queryFrom(t testing.TB, s *Server, src, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	w := newRecorder()
	w.remote = &net.UDPAddr{IP: net.ParseIP(src), Port: 40000}
	s.ServeDNS(w, m)
	got := w.written()
	if len(got) != 1 {
		t.Fatalf("%v from %s: %d replies, want 1", m.Question, src, len(got))
	}
	return got[0]
}

func exchangeHandler(t testing.TB, s *Server, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	w := newRecorder()
	s.ServeDNS(w, m)
	got := w.written()
	if len(got) != 1 {
		t.Fatalf("%v: %d replies, want 1", m.Question, len(got))
	}
	return got[0]
}

// testCase is one question and the reply it must get, records written as in
// a zone file; sections are compared sorted (as coredns's test.SortAndCheck).
type testCase struct {
	Qname  string
	Qtype  uint16
	Rcode  int
	NoAA   bool // the reply is not authoritative
	Answer []string
	Ns     []string
	Extra  []string
}

func (tc testCase) check(t *testing.T, m *mdns.Msg) {
	t.Helper()
	if m.Rcode != tc.Rcode {
		t.Errorf("rcode %s, want %s", rcodeName(m.Rcode), rcodeName(tc.Rcode))
	}
	if m.Authoritative == tc.NoAA {
		t.Errorf("authoritative %v, want %v", m.Authoritative, !tc.NoAA)
	}
	if !m.Response || !m.RecursionAvailable {
		t.Errorf("QR %v RA %v, want both", m.Response, m.RecursionAvailable)
	}
	checkSection(t, "answer", m.Answer, tc.Answer)
	checkSection(t, "authority", m.Ns, tc.Ns)
	var extra []mdns.RR
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	checkSection(t, "additional", extra, tc.Extra)
}

func checkSection(t *testing.T, section string, got []mdns.RR, want []string) {
	t.Helper()
	g := make([]string, len(got))
	for i, rr := range got {
		g[i] = rr.String()
	}
	w := make([]string, len(want))
	for i, s := range want {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", s, err)
		}
		w[i] = rr.String()
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s section:\n got: %s\nwant: %s", section, strings.Join(g, "\n      "), strings.Join(w, "\n      "))
	}
}

// Fixture: the objects behind the table tests.

func svc(ns, name, clusterIP string, ports ...api.ServicePort) *api.Service {
	s := &api.Service{}
	s.Namespace, s.Name = ns, name
	s.Spec.ClusterIP = clusterIP
	s.Spec.Ports = ports
	return s
}

func svcPort(name, proto string, port int32) api.ServicePort {
	return api.ServicePort{Name: name, Protocol: proto, Port: port}
}

func extSvc(ns, name, target string) *api.Service {
	s := svc(ns, name, "")
	s.Spec.Type = api.ServiceTypeExternalName
	s.Spec.ExternalName = target
	return s
}

func addr(ip, hostname string) api.EndpointAddress {
	return api.EndpointAddress{IP: ip, Hostname: hostname}
}

func eps(ns, name string, ready, notReady []api.EndpointAddress, ports ...api.EndpointPort) *api.Endpoints {
	e := &api.Endpoints{}
	e.Namespace, e.Name = ns, name
	e.Subsets = []api.EndpointSubset{{Addresses: ready, NotReadyAddresses: notReady, Ports: ports}}
	return e
}

func testPod(ns, name, ip string) *api.Pod {
	p := &api.Pod{}
	p.Namespace, p.Name = ns, name
	p.Status.Phase = api.PodRunning
	p.Status.PodIP = ip
	return p
}

func fixture() Snapshot {
	dual := svc("default", "dual", "10.96.0.20", svcPort("http", "TCP", 80))
	dual.Spec.ClusterIPs = []string{"10.96.0.20", "fd00:96::20"}
	pub := svc("default", "pub", api.ClusterIPNone)
	pub.Spec.PublishNotReadyAddresses = true
	hostNet := testPod("default", "host", "192.168.1.10")
	hostNet.Spec.HostNetwork = true
	failed := testPod("default", "failed", "10.244.3.9")
	failed.Status.Phase = api.PodFailed
	return Snapshot{
		Services: []*api.Service{
			svc("default", "web", "10.96.0.10", svcPort("http", "TCP", 80), svcPort("dns", "UDP", 53)),
			svc("default", "db", api.ClusterIPNone, svcPort("pg", "", 5432)),
			svc("default", "lonely", api.ClusterIPNone),
			svc("default", "pending", ""),
			extSvc("default", "ext", "Example.COM"),
			extSvc("default", "alias", "web.default.svc.cluster.local"),
			extSvc("default", "loop", "loop.default.svc.cluster.local"),
			extSvc("default", "ping", "pong.default.svc.cluster.local"),
			extSvc("default", "pong", "ping.default.svc.cluster.local"),
			dual,
			pub,
			svc("other", "web", "10.96.1.1", svcPort("http", "TCP", 80)),
			svc("default", "Bad_Name", "10.96.0.99"),
			svc("default", "badip", "10.96.0.300"),
		},
		Endpoints: []*api.Endpoints{
			eps("default", "web",
				[]api.EndpointAddress{addr("10.244.1.5", ""), addr("10.244.2.7", "")},
				[]api.EndpointAddress{addr("10.244.1.9", "")},
				api.EndpointPort{Name: "http", Port: 8080, Protocol: "TCP"}),
			eps("default", "db",
				[]api.EndpointAddress{addr("10.244.1.10", "db-0"), addr("10.244.2.11", "db-1"), addr("10.244.1.12", "")},
				[]api.EndpointAddress{addr("10.244.2.13", "db-3")},
				api.EndpointPort{Name: "pg", Port: 5432, Protocol: "TCP"}),
			eps("default", "pub", nil, []api.EndpointAddress{addr("10.244.3.4", "")},
				api.EndpointPort{Name: "http", Port: 80}),
			eps("default", "orphan", []api.EndpointAddress{addr("10.244.3.3", "")}, nil),
			eps("default", "bad", []api.EndpointAddress{addr("not-an-ip", "x")}, nil),
		},
		Pods: []*api.Pod{
			testPod("default", "web-1", "10.244.1.5"),
			testPod("default", "db-0", "10.244.1.10"),
			testPod("default", "outside", "172.17.0.5"),
			hostNet,
			failed,
			testPod("default", "noip", ""),
		},
	}
}

const soaCluster = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
const soaPods = "244.10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
const soaServices = "96.10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
