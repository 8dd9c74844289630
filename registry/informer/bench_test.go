package informer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// BenchmarkConsumersOfPods: ten consumers follow pods while b.N pods are
// created, each consumer with a registry watch of its own (as before the
// informer; the registry now shares its decodes among watches too) or all
// through one informer's View. It reports the objects the registry decoded
// per change and the registry watches open, beside time and allocations.
func BenchmarkConsumersOfPods(b *testing.B) {
	const consumers = 10
	for _, mode := range []string{"own-watches", "informer"} {
		b.Run(mode, func(b *testing.B) {
			reg := newRegistry(b)
			src := &countingSource{Source: reg}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var view *informer.View
			if mode == "informer" {
				inf := informer.New(src, informer.Options{})
				go inf.Run(ctx)
				view = inf.View()
			}
			var wg sync.WaitGroup
			for range consumers {
				var ch <-chan api.WatchEvent
				var err error
				if view != nil {
					ch, err = view.Watch(ctx, api.KindPod, "", api.ListOptions{})
				} else {
					ch, err = src.Watch(ctx, api.KindPod, "", api.ListOptions{})
				}
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					for range ch {
						if n++; n == b.N {
							return
						}
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := reg.Create(context.Background(), pod("default", fmt.Sprintf("p-%d", i), "", nil, "")); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			ws := reg.WatchStats()["pods"]
			b.ReportMetric(float64(ws.Decodes)/float64(b.N), "decodes/change")
			b.ReportMetric(float64(ws.Open), "registry-watches")
		})
	}
}
