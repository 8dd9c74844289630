package dns

import (
	"context"
	"fmt"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// BenchmarkQuery asks for a service's A record from parallel clients,
// through the handler alone and through a real UDP socket.
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
	b.Run("udp", func(b *testing.B) {
		s := newTestServer(b, testConfig())
		serveZone(s, fixture())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		addr := s.Addrs()[0]
		b.SetParallelism(4) // several clients per CPU keep the socket busy
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
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})
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
