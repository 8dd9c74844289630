package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// BenchmarkAPIGet measures a GET of one pod through the whole API server,
// without metrics and with them, side by side: the cost of the
// instrumentation on the hot path (docs/metrics.md reports the ratio).
func BenchmarkAPIGet(b *testing.B) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
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
	for _, c := range []struct {
		name     string
		observer server.RequestObserver
	}{{"plain", nil}, {"instrumented", New()}} {
		srv := server.New(server.Config{Store: objs, Observer: c.observer})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/web", nil)
			req.Host = "localhost" // the server refuses other names (DNS rebinding)
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
