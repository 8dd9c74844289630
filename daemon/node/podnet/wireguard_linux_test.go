package podnet

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestWireGuardInNetns runs two Routers in wireguard mode in two
// namespaces: each makes shoal.wg, publishes its signed key, routes the
// other's subnet over the device (the Router's protocol, none of the
// tunnel's own) and TCP passes between the pod subnets with the source
// kept; the device deleted by hand is made again with its route; a deleted
// node leaves no route.
func TestWireGuardInNetns(t *testing.T) {
	pathA, pathB := linkedNetns(t)
	store := testStore(t)
	addNode(t, store, "a", "10.244.0.0/24", "10.99.0.1")
	addNode(t, store, "b", "10.244.1.0/24", "10.99.0.2")
	ca := newTestCA(t)
	for _, n := range []struct{ name, ip, path string }{{"a", "10.99.0.1", pathA}, {"b", "10.99.0.2", pathB}} {
		live := identity.NewLive(ca.node(t, n.name))
		r, err := NewRouter(RouterConfig{Node: n.name, ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Log: testLog(t).With("node", n.name),
			Resync: 200 * time.Millisecond, NetNS: n.path, Mode: ModeWireGuard,
			VXLAN:     VXLANConfig{Local: mustAddr(t, n.ip)},
			WireGuard: WireGuardConfig{DataDir: t.TempDir(), Identity: live.Node, Trust: live.Pool},
			Publish:   AnnotateNode(store, n.name)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, store) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	nsA := strings.TrimPrefix(pathA, "/var/run/netns/")
	programmed := func() bool {
		return slices.Equal(ownedRoutes(t, nsA), []string{"10.244.1.0/24 dev shoal.wg scope link"})
	}
	poll.Cond(t, 10*time.Second, "a's route to b's pods over shoal.wg", programmed)
	if r := run(t, "ip", "-n", nsA, "route", "show", "proto", "137"); strings.TrimSpace(r) != "" {
		t.Errorf("routes of the tunnel's own protocol: %q", r)
	}
	if ann := getNode(t, store, "a").Annotations; ann[api.AnnotationBackendsInUse] != "wireguard" || ann[wireguard.Annotation] == "" {
		t.Errorf("annotations of a: %v", ann)
	}
	if l := run(t, "ip", "-n", nsA, "addr", "show", "shoal.wg"); !strings.Contains(l, "10.244.0.1/32") {
		t.Errorf("shoal.wg's address: %s", l)
	}

	echo := func() {
		t.Helper()
		echoAcross(t, pathA, pathB, "WireGuard", 256<<10, 15*time.Second)
	}
	echo()

	run(t, "ip", "-n", nsA, "link", "del", "shoal.wg")
	poll.Cond(t, 10*time.Second, "the device and its route back after the device was deleted", func() bool {
		return programmed() && strings.Contains(run(t, "ip", "-n", nsA, "link", "show"), "shoal.wg")
	})
	echo()

	if _, err := store.Delete(context.Background(), api.KindNode, "", "b", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "no route to b left on a", func() bool { return len(ownedRoutes(t, nsA)) == 0 })
}
