package gossiptest

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWriteBurst measures a burst of writes as a rollout makes them:
// 10 in-process members on loopback with the LAN timings, 200 writes of a
// pod-sized value (700 bytes: sent whole, not announced) spread over the
// members as fast as they are made. Reported: when each write was held by
// every member (p50, p99 and the last, from the burst's start), and per
// write the process's CPU time (all members' work: encoding, memberlist's
// packets, decoding, validating, storing) and the UDP bytes all members
// sent; with memberlist's compression on and off. Run it with
//
//	go test ./gossip/gossiptest -run '^$' -bench WriteBurst -benchtime 3x
func BenchmarkWriteBurst(b *testing.B) {
	for _, compress := range []bool{true, false} {
		b.Run(fmt.Sprintf("compression=%v", compress), func(b *testing.B) {
			benchWriteBurst(b, compress)
		})
	}
}

// podStatus is a pod's status as a node writes it: JSON that compresses
// as real records do (to about 0.75 of its size with LZW).
var podStatus = []byte(`{"metadata":{"name":"web-7d9f8c6b5-x2k4q","namespace":"default","uid":"3f1c2a9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b","resourceVersion":"123456"},` +
	`"status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True","lastTransitionTime":"2026-12-02T21:00:00Z"},` +
	`{"type":"Ready","status":"True","lastTransitionTime":"2026-12-02T21:00:02Z"},{"type":"PodScheduled","status":"True","lastTransitionTime":"2026-12-02T21:00:00Z"}],` +
	`"hostIP":"10.77.0.17","podIP":"10.244.17.23","podIPs":[{"ip":"10.244.17.23"}],"startTime":"2026-12-02T21:00:00Z",` +
	`"containerStatuses":[{"name":"web","state":{"running":{"startedAt":"2026-12-02T21:00:01Z"}},"ready":true,"restartCount":0,` +
	`"image":"shoal-test:latest","imageID":"sha256:5d3c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d",` +
	`"containerID":"docker://8f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a2918","started":true}],"qosClass":"Burstable"}}`)

func benchWriteBurst(b *testing.B, compress bool) {
	const members, writes = 10, 200
	c := New(b, members, Options{LAN: true, NoDataDir: true, Compression: compress})
	ms := c.Members()
	bytesSent := func() int64 {
		var total int64
		for _, m := range ms {
			total += m.Cluster().Stats().PacketBytesSent
		}
		return total
	}
	type arrival struct {
		key string
		at  time.Duration
	}
	var cpu time.Duration
	var sent int64
	var everywhere []time.Duration // per write: when the last member had it
	round := 0
	for b.Loop() {
		round++
		prefix := fmt.Sprintf("burst/%d/", round)
		arrivals := make(chan arrival, members*writes)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		start := time.Now()
		for _, m := range ms {
			sub, _, err := m.Store.Subscribe([]string{prefix}, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				defer sub.Cancel()
				for {
					changes, err := sub.Next(ctx)
					if err != nil {
						return
					}
					for _, ch := range changes {
						arrivals <- arrival{ch.New.Key, time.Since(start)}
					}
				}
			}()
		}
		cpu0, sent0 := processCPU(b), bytesSent()
		for i := range writes {
			ms[i%members].PutBytes(fmt.Sprintf("%s%03d", prefix, i), podStatus)
		}
		held, last := map[string]int{}, map[string]time.Duration{}
		for n := 0; n < members*writes; n++ {
			select {
			case a := <-arrivals:
				held[a.key]++
				last[a.key] = max(last[a.key], a.at)
			case <-ctx.Done():
				b.Fatalf("round %d: %d of %d arrivals in 90 s", round, n, members*writes)
			}
		}
		cpu += processCPU(b) - cpu0
		sent += bytesSent() - sent0
		cancel()
		for _, d := range last {
			everywhere = append(everywhere, d)
		}
	}
	b.StopTimer()
	slices.Sort(everywhere)
	pct := func(p float64) float64 {
		return everywhere[min(len(everywhere)-1, int(p*float64(len(everywhere))))].Seconds() * 1000
	}
	n := float64(len(everywhere))
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(everywhere[len(everywhere)-1].Seconds()*1000, "last-ms")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/write")
	b.ReportMetric(float64(sent)/n, "udp-B/write")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
