package ingress

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// The agent hands Run its replica of the cluster state.
var _ Source = (*registry.Registry)(nil)

// TestProxyWithGossipStore runs the proxy on the real replicated store: its
// list versions and watches must carry every change to the routes.
func TestProxyWithGossipStore(t *testing.T) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	ctx := context.Background()
	must := func(_ api.Object, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := backendServer(t, "a"), backendServer(t, "b")
	must(objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}))
	must(objs.Create(ctx, serviceOf("default", "web")))
	must(objs.Create(ctx, endpointsOf(t, "default", "web", []string{hostPort(t, a.URL)})))
	ing := webIngress()
	must(objs.Create(ctx, ing))

	p := runProxy(t, objs)
	srv := newServer(t, p)
	poll.Cond(t, 10*time.Second, "the listed route", func() bool { return srv.backendOf("app.example.com", "/") == "a" })

	cur, err := objs.Get(ctx, api.KindEndpoints, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	e := cur.(*api.Endpoints)
	e.Subsets = endpointsOf(t, "default", "web", []string{hostPort(t, b.URL)}).Subsets
	must(objs.Update(ctx, e))
	poll.Cond(t, 10*time.Second, "the updated endpoints", func() bool { return srv.backendOf("app.example.com", "/") == "b" })

	must(objs.Delete(ctx, api.KindIngress, "default", "app", api.DeleteOptions{}))
	poll.Cond(t, 10*time.Second, "the deleted ingress gone", func() bool {
		code, _ := srv.do(http.MethodGet, "app.example.com", "/", "", nil)
		return code == http.StatusNotFound
	})
}
