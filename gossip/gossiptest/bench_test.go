package gossiptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
)

// BenchmarkConvergence measures the time from a write on one member until
// every member's store holds it, on in-process members on loopback with
// the LAN timings, with and without the immediate push to random members
// (fanout=-1 is the gossip queue alone). Each iteration is one write on a
// random member; run it with a fixed count, for example:
//
//	go test ./gossip/gossiptest -run '^$' -bench Convergence -benchtime 50x
//
// p50-ms, p99-ms and max-ms are over the iterations; first-ms is one write
// made before them, right after the members joined; msgs/write counts the
// gossip transmissions and pushes of all members per write.
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{3, 100} {
		for _, fanout := range []int{3, -1} {
			for _, size := range []int{100, 100_000} {
				if size > 1000 && fanout < 0 {
					continue // the pull path does not depend on the push
				}
				b.Run(fmt.Sprintf("members=%d/fanout=%d/bytes=%d", n, fanout, size), func(b *testing.B) {
					benchConvergence(b, n, fanout, size)
				})
			}
		}
	}
}

func benchConvergence(b *testing.B, n, fanout, size int) {
	c := New(b, n, Options{LAN: true, Fanout: fanout, NoDataDir: true})
	ms := c.Members()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every write overwrites one key, so that the stores (and the heap)
	// stay small however many iterations run; arrivals are matched by
	// version.
	const key = "bench/k"
	arrivals := make(chan gossip.Version, 4*n)
	for _, m := range ms {
		sub, _, err := m.Store.Subscribe([]string{"bench/"}, 0, false)
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Cancel()
		go func() {
			for {
				changes, err := sub.Next(ctx)
				if err != nil {
					return
				}
				for _, ch := range changes {
					select {
					case arrivals <- ch.New.Version:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	value := []byte(strings.Repeat("x", size))
	msgs := func() int64 {
		var total int64
		for _, m := range ms {
			st := m.Cluster().Stats()
			total += st.BroadcastsSent + st.Pushes
		}
		return total
	}
	converge := func() time.Duration {
		start := time.Now()
		written := ms[rand.IntN(n)].PutBytes(key, value).Version
		seen := 0
		timeout := time.After(30 * time.Second)
		for seen < n {
			select {
			case v := <-arrivals:
				if v == written {
					seen++
				}
			case <-timeout:
				b.Fatalf("a write reached %d of %d members in 30 s", seen, n)
			}
		}
		return time.Since(start)
	}
	// The first write right after the members joined competes with the
	// membership broadcasts still in flight (memberlist#299): reported
	// apart, as first-ms.
	first := converge()
	before := msgs()
	var took []time.Duration
	for b.Loop() {
		took = append(took, converge())
	}
	b.StopTimer()
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	b.ReportMetric(float64(msgs()-before)/float64(len(took)), "msgs/write")
}
