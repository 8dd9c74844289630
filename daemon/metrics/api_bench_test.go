package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// podStore is an in-memory store holding the namespace default and the
// pod default/web.
func podStore(b *testing.B) *registry.Registry {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	ctx := context.Background()
	if _, err := objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		b.Fatal(err)
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "app:1"}}}}
	if _, err := objs.Create(ctx, pod); err != nil {
		b.Fatal(err)
	}
	return objs
}

func getPod() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/web", nil)
	req.Host = "localhost" // the server refuses other names (DNS rebinding)
	return req
}

// BenchmarkAPIGet serves a GET of one pod through the whole API server,
// without metrics and with them.
func BenchmarkAPIGet(b *testing.B) {
	objs := podStore(b)
	for _, c := range []struct {
		name     string
		observer server.RequestObserver
	}{{"plain", nil}, {"instrumented", New()}} {
		srv := server.New(server.Config{Store: objs, Observer: c.observer})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := getPod()
			for b.Loop() {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("GET answered %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkAPIGetPaired serves the same GET from a server without metrics
// and from one with them in turn, both in every iteration, timing each: on
// a busy machine the load changes between two separate benchmarks swamp
// the difference, while the two halves of one iteration see the same load.
// It reports both times and their ratio (docs/metrics.md).
func BenchmarkAPIGetPaired(b *testing.B) {
	objs := podStore(b)
	plain := server.New(server.Config{Store: objs})
	instrumented := server.New(server.Config{Store: objs, Observer: New()})
	req := getPod()
	var tPlain, tInstr time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always finds the caches warm.
		first, second, t1, t2 := plain, instrumented, &tPlain, &tInstr
		if i%2 == 1 {
			first, second, t1, t2 = instrumented, plain, &tInstr, &tPlain
		}
		start := time.Now()
		w := httptest.NewRecorder()
		first.ServeHTTP(w, req)
		mid := time.Now()
		w2 := httptest.NewRecorder()
		second.ServeHTTP(w2, req)
		end := time.Now()
		if w.Code != http.StatusOK || w2.Code != http.StatusOK {
			b.Fatalf("GET answered %d and %d", w.Code, w2.Code)
		}
		*t1 += mid.Sub(start)
		*t2 += end.Sub(mid)
	}
	b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "plain-ns/get")
	b.ReportMetric(float64(tInstr.Nanoseconds())/float64(b.N), "instrumented-ns/get")
	b.ReportMetric(float64(tInstr)/float64(tPlain), "ratio")
}

// BenchmarkObserveRequest is what the metrics add to one request once its
// label combination has been seen.
func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("get", "pods", 200, time.Millisecond, true)
	}
}

// BenchmarkObserveQuery is what the metrics add to one DNS answer.
func BenchmarkObserveQuery(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveQuery(1, 0, 50*time.Microsecond)
	}
}
