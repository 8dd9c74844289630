package dns

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// BenchmarkQuery asks for a service's A record from parallel clients,
// through the handler alone and through a real UDP socket: a listener as
// Listen opens it (the fast path), and miekg's server as every listener
// was before (-miekg), for comparison in one run. The udp benchmarks use
// miekg's client, one query at a time, which costs more than the server;
// udp-raw sends packed queries with several in flight per client, as
// dnsperf does. cpu-ns/query is the whole process's (clients included).
func BenchmarkQuery(b *testing.B) {
	const name = "web.default.svc.cluster.local."
	b.Run("handler", func(b *testing.B) {
		s := newTestServer(b, testConfig())
		serveZone(s, fixture())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			w := &discardWriter{}
			for pb.Next() {
				s.ServeDNS(w, m)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})
	b.Run("fast", func(b *testing.B) { // the fast path alone: parse, cache, copy
		s := newTestServer(b, testConfig())
		serveZone(s, fixture())
		query := new(mdns.Msg)
		query.SetQuestion(name, mdns.TypeA)
		packed, err := query.Pack()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			out, key := make([]byte, 0, upstreamUDPSize), []byte(nil)
			for pb.Next() {
				var ok bool
				if out, _, ok = s.fastReply(packed, out, &key, true); !ok {
					b.Error("not answered on the fast path")
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})
	for _, server := range []string{"", "-miekg"} {
		b.Run("udp"+server, func(b *testing.B) {
			addr := benchServer(b, server == "-miekg")
			b.SetParallelism(4) // several clients per CPU keep the socket busy
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
				conn, err := c.Dial(addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				m := new(mdns.Msg)
				m.SetQuestion(name, mdns.TypeA)
				for pb.Next() {
					m.Id = mdns.Id()
					r, _, err := c.ExchangeWithConn(m, conn)
					if err != nil || len(r.Answer) != 1 {
						b.Errorf("%v %v", r, err)
						return
					}
				}
			})
			reportLoad(b, cpu)
		})
		b.Run("udp-raw"+server, func(b *testing.B) {
			addr := benchServer(b, server == "-miekg")
			query := new(mdns.Msg)
			query.SetQuestion(name, mdns.TypeA)
			packed, err := query.Pack()
			if err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(4)
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) { rawLoad(b, pb, addr, packed) })
			reportLoad(b, cpu)
		})
	}
}

// benchServer serves the fixture on 127.0.0.1 through Listen, or through
// miekg's UDP server.
func benchServer(b *testing.B, miekg bool) string {
	s := newTestServer(b, testConfig())
	serveZone(s, fixture())
	if miekg {
		return referenceUDP(b, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	return s.Addrs()[0]
}

// rawLoad sends a packed query over and over with a few in flight, and
// checks each answer's header: a response with rcode NOERROR and one
// answer record.
func rawLoad(b *testing.B, pb *testing.PB, addr string, query []byte) {
	const window = 8
	conn, err := net.Dial("udp", addr)
	if err != nil {
		b.Error(err)
		return
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	reads, inflight := 0, 0
	read := func() bool {
		if reads%256 == 0 {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		}
		reads++
		n, err := conn.Read(buf)
		if err != nil || n < 12 || buf[2]&0x80 == 0 || buf[3]&0x0f != 0 || buf[7] != 1 {
			b.Errorf("answer %x: %v", buf[:n], err)
			return false
		}
		inflight--
		return true
	}
	for pb.Next() {
		if _, err := conn.Write(query); err != nil {
			b.Error(err)
			return
		}
		if inflight++; inflight == window && !read() {
			return
		}
	}
	for inflight > 0 && read() {
	}
}

func reportLoad(b *testing.B, cpuBefore time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	if cpu := processCPU() - cpuBefore; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/query")
	}
}

// BenchmarkBuildZone builds the zone of a large cluster: 1000 services
// with 5 endpoints each and 5000 pods.
func BenchmarkBuildZone(b *testing.B) {
	var snap Snapshot
	for i := range 1000 {
		ns := fmt.Sprintf("ns%d", i%20)
		name := fmt.Sprintf("svc%d", i)
		ip := fmt.Sprintf("10.96.%d.%d", i/250, 1+i%250)
		if i%10 == 0 {
			ip = api.ClusterIPNone
		}
		snap.Services = append(snap.Services, svc(ns, name, ip, svcPort("http", "TCP", 80)))
		var ready []api.EndpointAddress
		for j := range 5 {
			k := i*5 + j
			podIP := fmt.Sprintf("10.244.%d.%d", k/250, 1+k%250)
			ready = append(ready, addr(podIP, ""))
			snap.Pods = append(snap.Pods, testPod(ns, fmt.Sprintf("%s-%d", name, j), podIP))
		}
		snap.Endpoints = append(snap.Endpoints, eps(ns, name, ready, nil, api.EndpointPort{Name: "http", Port: 8080}))
	}
	s := newTestServer(b, testConfig())
	objs := reduceSnapshot(snap)
	b.ReportAllocs()
	b.ResetTimer()
	var z *zone
	for b.Loop() {
		z = buildZone(s.zopts, objs)
	}
	b.ReportMetric(float64(z.size), "records")
}

// discardWriter is a ResponseWriter that packs and drops, as a socket
// write would cost the packing.
type discardWriter struct{ recorder }

func (d *discardWriter) WriteMsg(m *mdns.Msg) error {
	_, err := m.Pack()
	return err
}
