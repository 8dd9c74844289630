package scheduler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
)

func testClaim(name string, mods ...func(*api.PersistentVolumeClaim)) *api.PersistentVolumeClaim {
	c := &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{api.ReadWriteOnce}}}
	for _, m := range mods {
		m(c)
	}
	return c
}

func usingClaim(claims ...string) func(*api.Pod) {
	return func(p *api.Pod) {
		for i, c := range claims {
			p.Spec.Volumes = append(p.Spec.Volumes, api.Volume{Name: fmt.Sprintf("v%d", i),
				PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: c}})
		}
	}
}

func getClaim(t *testing.T, store controllerStore, name string) *api.PersistentVolumeClaim {
	t.Helper()
	o, err := store.Get(t.Context(), api.KindClaim, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.PersistentVolumeClaim)
}

func setReady(t *testing.T, store controllerStore, name string, ready bool) {
	t.Helper()
	o, err := store.Get(t.Context(), api.KindNode, "", name)
	if err != nil {
		t.Fatal(err)
	}
	n := o.(*api.Node)
	st := api.ConditionTrue
	if !ready {
		st = api.ConditionFalse
	}
	n.Status.Conditions = []api.Condition{{Type: api.NodeReady, Status: st}}
	if _, err := store.UpdateStatus(t.Context(), n); err != nil {
		t.Fatal(err)
	}
}

func podScheduledMessage(t *testing.T, store controllerStore, name string) string {
	c := api.FindCondition(getPod(t, store, name).Status.Conditions, api.PodScheduled)
	if c == nil || c.Status != api.ConditionFalse {
		return ""
	}
	return c.Message
}

// The first pod of a claim binds the claim to its node, in the step that
// binds the pod; every later pod of the claim goes there, even when the
// spreading score would put it elsewhere; a pod whose claim has no object
// goes anywhere, as before claims were objects.
func TestSchedulerBindsAClaimToTheNodeOfItsFirstPod(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, nil)
	create(t, store, testClaim("data"))
	if c := getClaim(t, store, "data"); c.Status.Phase != api.ClaimPending || c.SelectedNode() != "" {
		t.Fatalf("a new claim: phase %q, node %q; want Pending and none", c.Status.Phase, c.SelectedNode())
	}
	startScheduler(t, store)
	create(t, store, testPod("db-0", "", "", ownedBy("rs-db"), usingClaim("data")))
	node := waitBound(t, store, "db-0")
	first := getPod(t, store, "db-0").Spec.NodeName
	c := getClaim(t, store, "data")
	if c.SelectedNode() != first || c.Status.Phase != api.ClaimBound {
		t.Fatalf("claim after the first pod (on %v): node %q, phase %q; want %s and Bound", node, c.SelectedNode(), c.Status.Phase, first)
	}
	var later []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("db-%d", i)
		later = append(later, name)
		create(t, store, testPod(name, "", "", ownedBy("rs-db"), usingClaim("data")))
	}
	where := waitBound(t, store, later...)
	if len(where) != 1 || len(where[first]) != 3 {
		t.Fatalf("the claim's later pods went to %v; want all on %s (spreading would have put them elsewhere)", where, first)
	}
	var free []string
	for i := range 3 {
		name := fmt.Sprintf("tmp-%d", i)
		free = append(free, name)
		create(t, store, testPod(name, "", "", ownedBy("rs-tmp"), usingClaim("no-object")))
	}
	if where := waitBound(t, store, free...); len(where) != 3 {
		t.Fatalf("pods of a claim without an object placed on %v; want spread over the three nodes", where)
	}
}

// A pod whose claim is bound to a node that is not ready stays Pending,
// saying so, is never placed elsewhere, and goes to that node once it is
// ready again.
func TestSchedulerHoldsAClaimsPodWhileItsNodeIsNotReady(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, nil)
	create(t, store, testClaim("data", func(c *api.PersistentVolumeClaim) {
		c.Annotations = map[string]string{api.AnnotationSelectedNode: "b"}
	}))
	if c := getClaim(t, store, "data"); c.Status.Phase != api.ClaimBound {
		t.Fatalf("a claim created with its node: phase %q, want Bound", c.Status.Phase)
	}
	setReady(t, store, "b", false)
	rec := startScheduler(t, store)
	create(t, store, testPod("db", "", "", usingClaim("data")))
	want := `persistentvolumeclaim "data" is bound to node b, which is not ready`
	poll.True(t, 5*time.Second, "PodScheduled=False naming the claim's node", func() (bool, string) {
		return podScheduledMessage(t, store, "db") == want, podScheduledMessage(t, store, "db")
	})
	time.Sleep(300 * time.Millisecond) // several retries with back-off
	if n := getPod(t, store, "db").Spec.NodeName; n != "" {
		t.Fatalf("the pod was bound to %s while its claim's node b was not ready", n)
	}
	if ev := rec.Find(ReasonFailedScheduling); len(ev) != 1 || ev[0].Message != want {
		t.Fatalf("FailedScheduling events: %+v", ev)
	}
	setReady(t, store, "b", true)
	if where := waitBound(t, store, "db"); len(where["b"]) != 1 {
		t.Fatalf("placed on %v once b was ready again; want b", where)
	}

	// A claim bound to a node that left the cluster.
	create(t, store, testClaim("gone", func(c *api.PersistentVolumeClaim) {
		c.Annotations = map[string]string{api.AnnotationSelectedNode: "h9"}
	}))
	create(t, store, testPod("orphan", "", "", usingClaim("gone")))
	want = `persistentvolumeclaim "gone" is bound to node h9, which is not in the cluster`
	poll.True(t, 5*time.Second, "PodScheduled=False naming the missing node", func() (bool, string) {
		return podScheduledMessage(t, store, "orphan") == want, podScheduledMessage(t, store, "orphan")
	})

	// Two claims bound to two nodes: no node can run the pod.
	create(t, store, testClaim("logs", func(c *api.PersistentVolumeClaim) {
		c.Annotations = map[string]string{api.AnnotationSelectedNode: "c"}
	}))
	create(t, store, testPod("split", "", "", usingClaim("data", "logs")))
	want = `persistentvolumeclaims "data" and "logs" are bound to different nodes (b, c): no node can run the pod`
	poll.True(t, 5*time.Second, "PodScheduled=False naming both claims", func() (bool, string) {
		return podScheduledMessage(t, store, "split") == want, podScheduledMessage(t, store, "split")
	})

	// The claim's node is there but full: the usual message, with the
	// other nodes counted as conflicting with the claim.
	create(t, store, testPod("big", "8", "", usingClaim("data")))
	want = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had volume node affinity conflict."
	poll.True(t, 5*time.Second, "PodScheduled=False, Insufficient cpu", func() (bool, string) {
		return podScheduledMessage(t, store, "big") == want, podScheduledMessage(t, store, "big")
	})
}

// Many pods of one unbound claim, pending together and decided faster
// than the watch shows any binding, all land on one node at the first
// attempt: the first placement assumes the claim bound there (the
// registry would refuse a binding elsewhere, but none is tried).
func TestSchedulerNeverSplitsAClaimOverTwoNodes(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			store := newBindingStore(t, nil)
			threeNodes(t, store, nil)
			create(t, store, testClaim("data"))
			var names []string
			for i := range 12 {
				name := fmt.Sprintf("db-%d", i)
				names = append(names, name)
				create(t, store, testPod(name, "", "", ownedBy(fmt.Sprintf("rs-%d", i%3)), usingClaim("data")))
			}
			startScheduler(t, store)
			where := waitBound(t, store, names...)
			if len(where) != 1 {
				t.Fatalf("the pods of one claim were bound to %d nodes: %v", len(where), where)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			for _, n := range names {
				if store.calls[n] != 1 {
					t.Fatalf("pod %s: %d bindings tried; want 1 (no binding to another node refused)", n, store.calls[n])
				}
			}
			if c := getClaim(t, store, "data"); len(where[c.SelectedNode()]) != 12 {
				t.Fatalf("claim bound to %q, pods on %v", c.SelectedNode(), where)
			}
		})
	}
}

// The registry is the last word: a binding to another node than the
// claim's is a conflict, whoever asks for it, and so is the creation of a
// pod that names another node (as DaemonSet pods do).
func TestBindingToAnotherNodeThanTheClaimsIsAConflict(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, nil)
	create(t, store, testClaim("data"))
	create(t, store, testPod("first", "", "", usingClaim("data")))
	create(t, store, testPod("second", "", "", usingClaim("data")))
	bind := func(pod, node string) error {
		_, err := store.Bind(t.Context(), "default", pod, &api.Binding{ObjectMeta: api.ObjectMeta{Name: pod},
			Target: api.ObjectReference{Kind: "Node", Name: node}})
		return err
	}
	if err := bind("first", "a"); err != nil {
		t.Fatal(err)
	}
	if c := getClaim(t, store, "data"); c.SelectedNode() != "a" || c.Status.Phase != api.ClaimBound {
		t.Fatalf("after the binding: node %q phase %q", c.SelectedNode(), c.Status.Phase)
	}
	err := bind("second", "b")
	if !api.IsConflict(err) {
		t.Fatalf("binding the claim's second pod to b: %v; want a conflict", err)
	}
	if want := `persistentvolumeclaim "data" is bound to node a: pod second can only run there, not on b`; !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
	if n := getPod(t, store, "second").Spec.NodeName; n != "" {
		t.Fatalf("the refused binding bound the pod to %s", n)
	}
	if _, err := store.Create(t.Context(), testPod("daemon-b", "", "", onNode("b"), usingClaim("data"))); !api.IsConflict(err) {
		t.Fatalf("creating a pod on b with the claim of a: %v; want a conflict", err)
	}
	if err := bind("second", "a"); err != nil {
		t.Fatalf("binding to the claim's node: %v", err)
	}
}
