package scheduler

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// BenchmarkSchedulerBind measures pods scheduled and bound per second: a
// real registry over a store on disk (every bind fsync'd, concurrent
// writes sharing a commit), the events recorder writing the Scheduled
// events to the same store, pending pods of 10 controllers created before
// the scheduler starts: 1,000 on 10 nodes, and 10,000 on 100 (the issue's
// goal's size). Each iteration is a fresh store; the timer runs from the
// scheduler's start to the last pod seen bound by a watch.
func BenchmarkSchedulerBind(b *testing.B) {
	b.Run("nodes=10/pods=1000", func(b *testing.B) { benchmarkBind(b, 10, 1000) })
	b.Run("nodes=100/pods=10000", func(b *testing.B) { benchmarkBind(b, 100, 10000) })
}

func benchmarkBind(b *testing.B, nodes, pods int) {
	const owners = 10
	var bound time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := gossip.Open(filepath.Join(b.TempDir(), "state.db"), "n1", nil)
		if err != nil {
			b.Fatal(err)
		}
		store := registry.New(st)
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := store.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
			b.Fatal(err)
		}
		for n := range nodes {
			node := testNode(fmt.Sprintf("node-%03d", n), "64", "256Gi", func(n *api.Node) {
				n.Status.Allocatable[api.ResourcePods] = q("1000")
				n.Status.Capacity[api.ResourcePods] = q("1000")
			})
			if _, err := store.Create(ctx, node); err != nil {
				b.Fatal(err)
			}
		}
		createPods(b, store, pods, owners)
		w, err := store.Watch(ctx, api.KindPod, "", api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rec := events.New(store, "default-scheduler", "n1", testLogger())
		s := New(store, rec, testLogger(), Options{})
		var wg sync.WaitGroup
		wg.Go(func() { rec.Run(ctx) })
		start := time.Now()
		b.StartTimer()
		wg.Go(func() {
			if err := s.Run(ctx); err != nil {
				b.Error(err)
			}
		})
		seen := map[string]bool{}
		timeout := time.After(10 * time.Minute)
		for len(seen) < pods {
			select {
			case ev := <-w:
				if p, ok := ev.Object.(*api.Pod); ok && p.Spec.NodeName != "" {
					seen[p.Name] = true
				}
			case <-timeout:
				b.Fatalf("%d of %d pods bound after 10 minutes", len(seen), pods)
			}
		}
		b.StopTimer()
		bound += time.Since(start)
		cancel()
		wg.Wait()
		st.Close()
	}
	b.ReportMetric(float64(pods*b.N)/bound.Seconds(), "pods/s")
}

// createPods creates n pending pods spread over the given number of
// controllers, several at a time.
func createPods(b *testing.B, store *registry.Registry, n, owners int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				p := testPod(fmt.Sprintf("pod-%05d", i), "10m", "16Mi", ownedBy(fmt.Sprintf("rs-%d", i%owners)))
				p.UID = ""
				if _, err := store.Create(context.Background(), p); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
