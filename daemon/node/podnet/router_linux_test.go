package podnet

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// ownedRoutes lists the namespace's routes with our protocol, as `ip` shows
// them.
func ownedRoutes(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(run(t, "ip", "-n", ns, "-4", "route", "show", "proto", "136")), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func TestRouterInNetns(t *testing.T) {
	ns, path := testNetns(t)
	// Routes of someone else: one to a subnet a node claims, one not.
	run(t, "ip", "-n", ns, "route", "add", "10.244.9.0/24", "via", "10.98.0.9", "proto", "static")
	run(t, "ip", "-n", ns, "route", "add", "10.244.7.0/24", "via", "10.98.0.7")

	store := testStore(t)
	addNode(t, store, "a", "10.244.0.0/24", "10.98.0.1") // this node
	addNode(t, store, "b", "10.244.1.0/24", "10.98.0.2")
	addNode(t, store, "c", "10.244.2.0/24", "10.98.0.3")
	addNode(t, store, "d", "10.244.9.0/24", "10.98.0.4")
	startRouter(t, store, nil, path)

	expect := func(what string, want ...string) {
		t.Helper()
		poll.Cond(t, 10*time.Second, what, func() bool { return slices.Equal(ownedRoutes(t, ns), want) })
	}
	expect("a route per other node", "10.244.1.0/24 via 10.98.0.2 dev lan0", "10.244.2.0/24 via 10.98.0.3 dev lan0")

	n := getNode(t, store, "c")
	n.Status.Addresses[0].Address = "10.98.0.33"
	if _, err := store.UpdateStatus(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	expect("the route replaced after the address changed",
		"10.244.1.0/24 via 10.98.0.2 dev lan0", "10.244.2.0/24 via 10.98.0.33 dev lan0")

	if _, err := store.Delete(context.Background(), api.KindNode, "", "b", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("the deleted node's route removed", "10.244.2.0/24 via 10.98.0.33 dev lan0")

	all := run(t, "ip", "-n", ns, "-4", "route", "show")
	for _, want := range []string{"10.244.9.0/24 via 10.98.0.9 dev lan0 proto static", "10.244.7.0/24 via 10.98.0.7 dev lan0"} {
		if !strings.Contains(all, want) {
			t.Errorf("a route of someone else is gone or changed: want %q in\n%s", want, all)
		}
	}
}
