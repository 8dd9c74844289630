package gossip_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
)

// BenchmarkStoreWrite measures local writes on a store persisted to disk
// (bbolt in the benchmark's temporary directory, fsync'd): W writers each
// write one record of 200 bytes per Update, with a watcher draining the
// changes. It reports writes per second and the latency of one write
// (p50, p99). It uses only the store's public API, so that scripts/bench-store
// runs the same file against an older commit for a side-by-side ratio:
//
//	go test ./gossip -run '^$' -bench StoreWrite -benchtime 2000x
func BenchmarkStoreWrite(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			st, err := gossip.Open(filepath.Join(b.TempDir(), "state.db"), "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			sub, _, err := st.Subscribe([]string{"o/"}, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var seen atomic.Int64
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				for {
					chs, err := sub.Next(ctx)
					if err != nil {
						return
					}
					seen.Add(int64(len(chs)))
				}
			}()
			value := []byte(strings.Repeat("x", 200))
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < writers; w++ {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						key := fmt.Sprintf("o/configmaps/default/cm-%d", i)
						t0 := time.Now()
						if _, err := st.Update(context.Background(), func(t *gossip.Txn) error {
							t.Put(key, value)
							return nil
						}); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			for seen.Load() < int64(b.N) && time.Since(start) < time.Minute {
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-drained
			if got := seen.Load(); got != int64(b.N) {
				b.Fatalf("the watcher saw %d of %d writes", got, b.N)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
