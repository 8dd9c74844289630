package scheduler

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func ownedBy(uid string) func(*api.Pod) {
	return func(p *api.Pod) {
		yes := true
		p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: uid, Controller: &yes}}
	}
}

func TestPickNode(t *testing.T) {
	cases := []struct {
		name  string
		pod   *api.Pod
		nodes []*nodeInfo
		want  string
	}{
		{"fewest siblings first, even on a busier node",
			testPod("p", "100m", "", ownedBy("rs1")),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("s1", "", "", onNode("a"), ownedBy("rs1"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, "b"},
		{"siblings being deleted do not count",
			testPod("p", "", "", ownedBy("rs1")),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("s1", "", "", onNode("a"), ownedBy("rs1"), func(p *api.Pod) {
					p.DeletionTimestamp = api.NowPtr()
				})),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("x", "1", "1Gi", onNode("b"))),
			}, "a"},
		{"then least allocated",
			testPod("p", "500m", "1Gi"),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("x", "2", "1Gi", onNode("a"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("y", "1", "1Gi", onNode("b"))),
			}, "b"},
		{"least allocated relative to the node's size",
			testPod("p", "", ""),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "2", "4Gi"), testPod("x", "1", "2Gi", onNode("a"))),
				newNodeInfo(testNode("b", "8", "16Gi"), testPod("y", "2", "4Gi", onNode("b"))),
			}, "b"},
		{"then the name",
			testPod("p", "", ""),
			[]*nodeInfo{newNodeInfo(testNode("c", "4", "8Gi")), newNodeInfo(testNode("b", "4", "8Gi"))}, "b"},
		{"only nodes that fit",
			testPod("p", "", "", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{api.LabelHostname: "c"} }),
			[]*nodeInfo{newNodeInfo(testNode("b", "4", "8Gi")), newNodeInfo(testNode("c", "1", "1Gi"))}, "c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			best, reasons := pickNode(tc.pod, tc.nodes, "", nil)
			if best == nil || best.node.Name != tc.want {
				t.Fatalf("picked %v (reasons %v), want %s", best, reasons, tc.want)
			}
		})
	}
}

func TestFitErrorMessageAsKubernetes(t *testing.T) {
	pod := testPod("p", "", "10Gi", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
	nodes := []*nodeInfo{
		newNodeInfo(testNode("a", "4", "8Gi")),
		newNodeInfo(testNode("b", "4", "8Gi", func(n *api.Node) { n.Labels["disk"] = "ssd" })),
		newNodeInfo(testNode("c", "4", "8Gi", func(n *api.Node) { n.Labels["disk"] = "ssd" })),
	}
	best, reasons := pickNode(pod, nodes, "", nil)
	if best != nil {
		t.Fatalf("picked %s", best.node.Name)
	}
	want := "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory."
	if got := fitErrorMessage(len(nodes), reasons); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := fitErrorMessage(0, nil); got != "0/0 nodes are available." {
		t.Fatalf("no nodes: %q", got)
	}
}

func TestCacheCountsAssumedPodsUntilTheWatchShowsThem(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newCache(30*time.Second, func() time.Time { return now })
	c.setNode(testNode("a", "1", "1Gi"))
	bound := testPod("p", "600m", "", onNode("a"))
	c.assume(bound)
	requested := func() int64 { return c.snapshot()[0].requested.milliCPU }
	if got := requested(); got != 600 {
		t.Fatalf("requested %d, want the assumed pod's 600", got)
	}
	// The watch shows it: counted once, no longer assumed.
	c.updatePod(bound)
	if got := requested(); got != 600 || len(c.assumed) != 0 {
		t.Fatalf("requested %d with %d assumed", got, len(c.assumed))
	}
	// A stale event from before the binding does not drop an assumed pod.
	other := testPod("q", "300m", "", onNode("a"))
	c.assume(other)
	stale := testPod("q", "300m", "")
	c.updatePod(stale)
	if got := requested(); got != 900 {
		t.Fatalf("requested %d, want 900", got)
	}
	// An assumption the watch never confirms expires.
	now = now.Add(31 * time.Second)
	if got := requested(); got != 600 {
		t.Fatalf("requested %d after the assumption expired, want 600", got)
	}
	// A pod that ended frees its share.
	ended := testPod("p", "600m", "", onNode("a"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })
	if !c.updatePod(ended) {
		t.Fatal("an ended pod must report freed resources")
	}
	if got := requested(); got != 0 {
		t.Fatalf("requested %d after the pod ended", got)
	}
}
