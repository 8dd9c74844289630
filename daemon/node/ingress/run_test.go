package ingress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// runProxy runs a proxy on src until the test ends.
func runProxy(t *testing.T, src Source) *Proxy {
	t.Helper()
	p := New(Config{}, testLogger(t))
	runOn(t, p, src)
	return p
}

// routeOf describes what the current table does with a request: "not
// loaded", "404", "503 <reason>" or the endpoint addresses.
func routeOf(p *Proxy, host, path string) string {
	t := p.table.Load()
	if t == nil {
		return "not loaded"
	}
	r := t.lookup(host, path)
	switch {
	case r == nil:
		return "404"
	case len(r.backend.addrs) == 0:
		return "503 " + r.backend.reason
	}
	return strings.Join(r.backend.addrs, ",")
}

func waitRoute(t *testing.T, p *Proxy, host, path, want string) {
	t.Helper()
	poll.Cond(t, 10*time.Second, host+path+" -> "+want, func() bool { return routeOf(p, host, path) == want })
}

func TestRunFollowsWatchEvents(t *testing.T) {
	src := newFakeSource(webIngress(), serviceOf("default", "web"))
	p := runProxy(t, src)
	waitRoute(t, p, "app.example.com", "/", "503 ")

	src.put(endpointsOf(t, "default", "web", []string{"10.0.0.1:8080"}))
	waitRoute(t, p, "app.example.com", "/", "10.0.0.1:8080")

	src.put(endpointsOf(t, "default", "web", []string{"10.0.0.2:8080", "10.0.0.1:8080"}, "10.0.0.3:8080"))
	waitRoute(t, p, "app.example.com", "/", "10.0.0.1:8080,10.0.0.2:8080")

	src.del(serviceOf("default", "web"))
	waitRoute(t, p, "app.example.com", "/", "503 service not found")
	src.put(serviceOf("default", "web"))
	waitRoute(t, p, "app.example.com", "/", "10.0.0.1:8080,10.0.0.2:8080")

	moved := webIngress()
	moved.Spec.Rules[0].Host = "moved.example.com"
	src.put(moved)
	waitRoute(t, p, "moved.example.com", "/", "10.0.0.1:8080,10.0.0.2:8080")
	if got := routeOf(p, "app.example.com", "/"); got != "404" {
		t.Errorf("old host after the move: %s, want 404", got)
	}

	src.del(moved)
	waitRoute(t, p, "moved.example.com", "/", "404")
}

func TestRunListsAgainWhenTheWatchEnds(t *testing.T) {
	src := newFakeSource(webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{"10.0.0.1:8080"}))
	p := runProxy(t, src)
	waitRoute(t, p, "app.example.com", "/", "10.0.0.1:8080")
	lists := src.listCount(api.KindEndpoints)

	// The change lands while no watch is open: only a new list sees it.
	src.breakWatches()
	src.put(endpointsOf(t, "default", "web", []string{"10.0.0.9:8080"}))
	waitRoute(t, p, "app.example.com", "/", "10.0.0.9:8080")
	if n := src.listCount(api.KindEndpoints); n <= lists {
		t.Errorf("endpoints listed %d times, want more than %d", n, lists)
	}
	poll.Cond(t, 10*time.Second, "watches open again", func() bool { return src.watchCount() == len(kinds) })

	lists = src.listCount(api.KindService)
	src.sendError(api.KindService)
	poll.Cond(t, 10*time.Second, "services listed after an ERROR event", func() bool {
		return src.listCount(api.KindService) > lists
	})
}

func TestRunWaitsForEveryKind(t *testing.T) {
	src := newFakeSource(webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{"10.0.0.1:8080"}))
	src.setListErr(api.KindEndpoints, errors.New("store not ready"))
	p := runProxy(t, src)
	poll.Cond(t, 10*time.Second, "endpoints list retried", func() bool {
		return src.listCount(api.KindEndpoints) >= 2 && src.listCount(api.KindIngress) >= 1 && src.listCount(api.KindService) >= 1
	})
	if got := routeOf(p, "app.example.com", "/"); got != "not loaded" {
		t.Fatalf("routes installed before Endpoints were listed: %s", got)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("before sync: status %d, want 503", w.Code)
	}

	src.setListErr(api.KindEndpoints, nil)
	waitRoute(t, p, "app.example.com", "/", "10.0.0.1:8080")
}

func TestRunOnceAtATime(t *testing.T) {
	src := newFakeSource()
	p := New(Config{}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, src) }()
	poll.Cond(t, time.Second, "three watches", func() bool { return src.watchCount() == len(kinds) })
	if err := p.Run(ctx, src); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run: %v, want ErrAlreadyRunning", err)
	}
	// An empty cluster still loads a table: everything is a 404.
	waitRoute(t, p, "app.example.com", "/", "404")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	poll.Cond(t, time.Second, "watches closed", func() bool { return src.watchCount() == 0 })

	// The source is free for another Run.
	again := runProxy(t, src)
	src.put(webIngress())
	waitRoute(t, again, "app.example.com", "/", "503 service not found")
}

func TestStateSkipsServicesNoIngressNames(t *testing.T) {
	st := newState()
	ing := webIngress()
	steps := []struct {
		name string
		u    update
		want bool
	}{
		{"ingress list", update{kind: api.KindIngress, full: true, list: []api.Object{ing}}, true},
		{"endpoints list", update{kind: api.KindEndpoints, full: true}, true},
		{"other endpoints", update{kind: api.KindEndpoints, ev: api.WatchEvent{Type: api.Modified, Object: endpointsOf(t, "default", "other", nil)}}, false},
		{"other service", update{kind: api.KindService, ev: api.WatchEvent{Type: api.Added, Object: serviceOf("default", "other")}}, false},
		{"same name, other namespace", update{kind: api.KindEndpoints, ev: api.WatchEvent{Type: api.Added, Object: endpointsOf(t, "shop", "web", nil)}}, false},
		{"named endpoints", update{kind: api.KindEndpoints, ev: api.WatchEvent{Type: api.Modified, Object: endpointsOf(t, "default", "web", nil)}}, true},
		{"named service", update{kind: api.KindService, ev: api.WatchEvent{Type: api.Added, Object: serviceOf("default", "web")}}, true},
		{"ingress deleted", update{kind: api.KindIngress, ev: api.WatchEvent{Type: api.Deleted, Object: ing}}, true},
		{"formerly named endpoints", update{kind: api.KindEndpoints, ev: api.WatchEvent{Type: api.Modified, Object: endpointsOf(t, "default", "web", nil)}}, false},
	}
	for _, s := range steps {
		if got := st.apply(s.u); got != s.want {
			t.Errorf("%s: changed = %v, want %v", s.name, got, s.want)
		}
	}
	if st.synced() {
		t.Error("synced without a Service list")
	}
	if _, ok := st.services["default/web"]; !ok {
		t.Error("a Service event was not recorded")
	}
}
