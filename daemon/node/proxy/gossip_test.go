package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// TestProxierWithGossipStore runs the proxier on the real replicated store:
// its list versions and watches must carry every change to the kernel.
func TestProxierWithGossipStore(t *testing.T) {
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
	must(objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}))
	must(objs.Create(ctx, svc("default", "web", "10.96.0.10", port("", "TCP", 80))))
	must(objs.Create(ctx, eps("default", "web", []string{"10.244.1.5"}, epPort("", "TCP", 8080))))

	k := newFakeKernel()
	p := New(testConfig(k), nil)
	runProxier(t, p, objs)
	natHas := func(part string) func() bool {
		return func() bool {
			saved, _ := k.Save(ctx, TableNAT)
			return strings.Contains(string(saved), part)
		}
	}
	poll.Cond(t, 10*time.Second, "the listed endpoint", natHas("--to-destination 10.244.1.5:8080"))

	// Changes after the list arrive by the watch.
	must(objs.Create(ctx, svc("default", "api", "10.96.0.11", port("http", "TCP", 80))))
	must(objs.Create(ctx, eps("default", "api", []string{"10.244.2.9"}, epPort("http", "TCP", 9000))))
	poll.Cond(t, 10*time.Second, "the new service", natHas("--to-destination 10.244.2.9:9000"))

	cur, err := objs.Get(ctx, api.KindEndpoints, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	e := cur.(*api.Endpoints)
	e.Subsets[0].Addresses = append(e.Subsets[0].Addresses, api.EndpointAddress{IP: "10.244.3.7"})
	must(objs.Update(ctx, e))
	poll.Cond(t, 10*time.Second, "the added endpoint", natHas("--to-destination 10.244.3.7:8080"))

	must(objs.Delete(ctx, api.KindService, "default", "web", api.DeleteOptions{}))
	poll.Cond(t, 10*time.Second, "the deleted service gone", func() bool { return !natHas("10.96.0.10")() })
}
