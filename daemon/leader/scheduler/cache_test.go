package scheduler

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// The per-node sums follow pods as they are assumed, bound, changed,
// deleted; an assumption whose binding is being written never expires.
func TestCacheKeepsNodeSumsAsPodsComeAndGo(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newCache(30*time.Second, func() time.Time { return now })
	c.setNode(testNode("a", "4", "4Gi"))
	c.setNode(testNode("b", "4", "4Gi"))
	withPort := func(p *api.Pod) {
		p.Spec.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
	}
	info := func(name string) *nodeInfo {
		for _, ni := range c.snapshot() {
			if ni.node.Name == name {
				return ni
			}
		}
		t.Fatalf("no node %s", name)
		return nil
	}
	pending := testPod("p", "500m", "", ownedBy("rs"), withPort)
	assumed, why := c.place(pending)
	if assumed == nil {
		t.Fatal(why)
	}
	node := assumed.Spec.NodeName
	if pending.Spec.NodeName != "" {
		t.Fatal("place changed the pod it was given")
	}
	ni := info(node)
	if ni.requested.milliCPU != 500 || len(ni.ports) != 1 || ni.owners["rs"] != 1 || len(ni.pods) != 1 {
		t.Fatalf("after place: %+v", ni)
	}
	// Being written, the assumption outlives the TTL.
	now = now.Add(time.Hour)
	if got := info(node).requested.milliCPU; got != 500 {
		t.Fatalf("an assumption being bound expired: requested %d", got)
	}
	// A sibling goes elsewhere, and the port is free on the other node only.
	second, _ := c.place(testPod("q", "", "", ownedBy("rs"), withPort))
	if second == nil || second.Spec.NodeName == node {
		t.Fatalf("the sibling with the same host port went to %v", second)
	}
	// The watch shows the binding, then the pod being deleted: it still
	// takes its resources, but no longer counts as a sibling.
	c.updatePod(assumed)
	deleting := *assumed
	ts := api.NewTime(now)
	deleting.DeletionTimestamp = &ts
	c.updatePod(&deleting)
	ni = info(node)
	if ni.requested.milliCPU != 500 || ni.owners["rs"] != 0 || len(c.assumed) != 1 {
		t.Fatalf("deleting pod: %+v, %d assumed", ni, len(c.assumed))
	}
	c.deletePod(podKey(assumed))
	ni = info(node)
	if ni.requested.milliCPU != 0 || len(ni.ports) != 0 || len(ni.pods) != 0 {
		t.Fatalf("after delete: %+v", ni)
	}
	// A failed binding undoes its assumption.
	c.unassume(second)
	if ni := info(second.Spec.NodeName); len(ni.pods) != 0 || len(ni.ports) != 0 || len(c.assumed) != 0 {
		t.Fatalf("after unassume: %+v, %d assumed", ni, len(c.assumed))
	}
	// Pods on a node not known yet are counted once it comes.
	c.updatePod(testPod("r", "1", "", onNode("c")))
	c.setNode(testNode("c", "4", "4Gi"))
	if got := info("c").requested.milliCPU; got != 1000 {
		t.Fatalf("node c requested %d, want 1000", got)
	}
	c.deleteNode("c")
	if len(c.snapshot()) != 2 {
		t.Fatal("a deleted node is still offered")
	}
}
