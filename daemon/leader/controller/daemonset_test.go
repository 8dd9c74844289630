package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func newNode(name string, labels map[string]string, ready bool, taints ...api.Taint) *api.Node {
	st := api.ConditionFalse
	if ready {
		st = api.ConditionTrue
	}
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: labels},
		Spec:       api.NodeSpec{Taints: taints},
		Status:     api.NodeStatus{Conditions: []api.Condition{{Type: api.NodeReady, Status: st, LastTransitionTime: api.Now()}}},
	}
}

func getNode(t *testing.T, store testStore, name string) *api.Node {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindNode, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Node)
}

func updateNode(t *testing.T, store testStore, name string, change func(*api.Node)) {
	t.Helper()
	for range 20 {
		n := getNode(t, store, name)
		change(n)
		if _, err := store.Update(context.Background(), n); err == nil {
			return
		} else if !api.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}

func setNodeReady(t *testing.T, store testStore, name string, ready bool) {
	t.Helper()
	n := getNode(t, store, name)
	n.Status = newNode(name, nil, ready).Status
	if _, err := store.UpdateStatus(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

func addNodes(t *testing.T, store testStore, nodes ...*api.Node) {
	t.Helper()
	for _, n := range nodes {
		mustCreate(t, store, n)
	}
}

func newDaemonSet(name string) *api.DaemonSet {
	return &api.DaemonSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, "img:v1"),
		},
	}
}

func getDS(t *testing.T, store testStore, name string) *api.DaemonSet {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindDaemonSet, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.DaemonSet)
}

func updateDS(t *testing.T, store testStore, name string, change func(*api.DaemonSet)) {
	t.Helper()
	for range 20 {
		ds := getDS(t, store, name)
		change(ds)
		if _, err := store.Update(context.Background(), ds); err == nil {
			return
		} else if !api.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}

func dsPods(t *testing.T, store testStore, name string) []*api.Pod {
	t.Helper()
	return listPods(t, store, api.SelectorFromSet(map[string]string{"app": name}))
}

// placed describes where the live pods are: "node:count" for every node
// with a pod not being deleted, sorted.
func placed(pods []*api.Pod) string {
	count := map[string]int{}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			count[p.Spec.NodeName]++
		}
	}
	var out []string
	for n, c := range count {
		out = append(out, fmt.Sprintf("%s:%d", n, c))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// waitPlaced waits until the DaemonSet's pods (all of them: none may be
// on its way out) are one per listed node, ready.
func waitPlaced(t *testing.T, store testStore, name string, nodes ...string) []*api.Pod {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, n+":1")
	}
	sort.Strings(want)
	var pods []*api.Pod
	poll.True(t, 10*time.Second, "one ready pod on each of "+strings.Join(nodes, ","), func() (bool, string) {
		pods = dsPods(t, store, name)
		if placed(pods) != strings.Join(want, " ") || len(pods) != len(nodes) {
			return false, describePods(pods)
		}
		for _, p := range pods {
			if !api.IsPodReady(p) {
				return false, describePods(pods)
			}
		}
		return true, ""
	})
	return pods
}

func dsHash(t *testing.T, store testStore, name string) string {
	t.Helper()
	ds := getDS(t, store, name)
	h, err := computeHash(&ds.Spec.Template, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func waitDSStatus(t *testing.T, store testStore, name string, want api.DaemonSetStatus) {
	t.Helper()
	poll.True(t, 10*time.Second, fmt.Sprintf("status %+v", want), func() (bool, string) {
		ds := getDS(t, store, name)
		want.ObservedGeneration = ds.Generation
		return jsonEqual(ds.Status, want), fmt.Sprintf("%+v", ds.Status)
	})
}

func allAvailable(n int32) api.DaemonSetStatus {
	return api.DaemonSetStatus{DesiredNumberScheduled: n, CurrentNumberScheduled: n, NumberReady: n,
		UpdatedNumberScheduled: n, NumberAvailable: n}
}

func threeNodes(t *testing.T, store testStore) {
	t.Helper()
	addNodes(t, store, newNode("n1", nil, true), newNode("n2", nil, true), newNode("n3", nil, true))
}

func TestDaemonSetRunsOnePodPerNode(t *testing.T) {
	store := newTestStore(t)
	rec := startManager(t, store, noResync(jobOptions()))
	startFakeNode(t, store, 0, 20*time.Millisecond, nil)
	threeNodes(t, store)
	// DaemonSets ignore spec.unschedulable, as in Kubernetes.
	updateNode(t, store, "n3", func(n *api.Node) { n.Spec.Unschedulable = true })
	ds := mustCreate(t, store, newDaemonSet("agent")).(*api.DaemonSet)

	pods := waitPlaced(t, store, "agent", "n1", "n2", "n3")
	waitDSStatus(t, store, "agent", allAvailable(3))
	hash := dsHash(t, store, "agent")
	for _, p := range pods {
		ref := p.ControllerRef()
		if p.GenerateName != "agent-" || ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" ||
			p.Labels["app"] != "agent" || p.Labels[api.LabelControllerRevision] != hash {
			t.Fatalf("pod not made from the template and owned by the DaemonSet: %+v", p.ObjectMeta)
		}
		for _, key := range []string{api.TaintNotReady, api.TaintUnreachable} {
			if !tolerationFor(p, key).ToleratesTaint(&api.Taint{Key: key, Effect: api.TaintNoExecute}) {
				t.Fatalf("pod %s does not tolerate %s: %+v", p.Name, key, p.Spec.Tolerations)
			}
		}
	}
	holdsFor(t, 200*time.Millisecond, "one pod per node", func() (bool, string) {
		pods := dsPods(t, store, "agent")
		return len(pods) == 3, describePods(pods)
	})
	if n := len(rec.Find(ReasonSuccessfulCreate)); n != 3 {
		t.Fatalf("%d SuccessfulCreate events, want 3", n)
	}

	// A new Ready node gets a pod; one that is not Ready waits until it is.
	addNodes(t, store, newNode("n4", nil, true), newNode("n5", nil, false))
	waitPlaced(t, store, "agent", "n1", "n2", "n3", "n4")
	waitDSStatus(t, store, "agent", allAvailable(4))
	holdsFor(t, 200*time.Millisecond, "no pod on a node that is not ready", func() (bool, string) {
		pods := dsPods(t, store, "agent")
		return placed(pods) == "n1:1 n2:1 n3:1 n4:1", describePods(pods)
	})
	setNodeReady(t, store, "n5", true)
	waitPlaced(t, store, "agent", "n1", "n2", "n3", "n4", "n5")

	// A node that goes away takes its pod with it, at once: no node is
	// left to stop it.
	var onN2 string
	for _, p := range dsPods(t, store, "agent") {
		if p.Spec.NodeName == "n2" {
			onN2 = p.Name
		}
	}
	marked := watchMarked(t, store, onN2)
	if _, err := store.Delete(t.Context(), api.KindNode, "", "n2", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "the pod of the removed node deleted", func() (bool, string) {
		return !exists(t, store, api.KindPod, onN2), describePods(dsPods(t, store, "agent"))
	})
	if marked.Load() {
		t.Fatal("the pod of the removed node was deleted gracefully; no node is left to finish that")
	}
	waitPlaced(t, store, "agent", "n1", "n3", "n4", "n5")
	waitDSStatus(t, store, "agent", allAvailable(4))

	// A pod its node reports Failed is replaced.
	failed := dsPods(t, store, "agent")[0]
	setPodStatus(t, store, failed, api.PodFailed, false, 0)
	poll.True(t, 5*time.Second, "the failed pod replaced", func() (bool, string) {
		pods := dsPods(t, store, "agent")
		return !exists(t, store, api.KindPod, failed.Name) && placed(pods) == "n1:1 n3:1 n4:1 n5:1", describePods(pods)
	})
	if n := len(rec.Find(ReasonFailedDaemonPod)); n != 1 {
		t.Fatalf("%d FailedDaemonPod events, want 1", n)
	}

	// Deleting the DaemonSet deletes its pods through the garbage collector.
	if _, err := store.Delete(t.Context(), api.KindDaemonSet, "default", "agent", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "the pods collected", func() (bool, string) {
		pods := dsPods(t, store, "agent")
		return len(pods) == 0, describePods(pods)
	})
}

// watchMarked reports whether the pod was ever seen marked for deletion.
func watchMarked(t *testing.T, store testStore, pod string) *atomic.Bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var marked atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			if m := ev.Object.GetObjectMeta(); m.Name == pod && m.DeletionTimestamp != nil {
				marked.Store(true)
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &marked
}

func tolerationFor(p *api.Pod, key string) *api.Toleration {
	for i := range p.Spec.Tolerations {
		if p.Spec.Tolerations[i].Key == key {
			return &p.Spec.Tolerations[i]
		}
	}
	return &api.Toleration{Key: "none", Effect: "none"}
}

func TestDaemonSetNodeSelector(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	startFakeNode(t, store, 0, 20*time.Millisecond, nil)
	ssd, hdd := map[string]string{"disk": "ssd"}, map[string]string{"disk": "hdd"}
	addNodes(t, store, newNode("n1", ssd, true), newNode("n2", hdd, true), newNode("n3", ssd, true))
	ds := newDaemonSet("cache")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	mustCreate(t, store, ds)
	waitPlaced(t, store, "cache", "n1", "n3")
	waitDSStatus(t, store, "cache", allAvailable(2))
	holdsFor(t, 200*time.Millisecond, "no pod on the node that does not match", func() (bool, string) {
		pods := dsPods(t, store, "cache")
		return placed(pods) == "n1:1 n3:1", describePods(pods)
	})

	// Labels change: n2 now matches, n1 no longer does.
	updateNode(t, store, "n2", func(n *api.Node) { n.Labels = ssd })
	updateNode(t, store, "n1", func(n *api.Node) { n.Labels = hdd })
	waitPlaced(t, store, "cache", "n2", "n3")
	waitDSStatus(t, store, "cache", allAvailable(2))
}

func TestDaemonSetTaintsAndTolerations(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	startFakeNode(t, store, 0, 20*time.Millisecond, nil)
	db := api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintNoSchedule}
	addNodes(t, store, newNode("n1", nil, true), newNode("n2", nil, true), newNode("n3", nil, true, db))
	mustCreate(t, store, newDaemonSet("logs"))
	waitPlaced(t, store, "logs", "n1", "n2")
	holdsFor(t, 200*time.Millisecond, "no pod on the tainted node", func() (bool, string) {
		pods := dsPods(t, store, "logs")
		return placed(pods) == "n1:1 n2:1", describePods(pods)
	})

	// Tolerating the taint puts a pod there.
	updateDS(t, store, "logs", func(ds *api.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "dedicated", Operator: "Equal", Value: "db", Effect: api.TaintNoSchedule}}
	})
	waitPlaced(t, store, "logs", "n1", "n2", "n3")
	waitDSStatus(t, store, "logs", allAvailable(3))

	// A NoExecute taint it does not tolerate evicts its pod; a NoSchedule
	// one only keeps new pods away, and the pod there stays.
	updateNode(t, store, "n1", func(n *api.Node) {
		n.Spec.Taints = []api.Taint{{Key: "maintenance", Effect: api.TaintNoExecute}}
	})
	updateNode(t, store, "n2", func(n *api.Node) {
		n.Spec.Taints = []api.Taint{{Key: "maintenance", Effect: api.TaintNoSchedule}}
	})
	waitPlaced(t, store, "logs", "n2", "n3")
	waitDSStatus(t, store, "logs", api.DaemonSetStatus{DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
		NumberReady: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1, NumberMisscheduled: 1})
}

func TestDaemonSetDeletesExtraPodsKeepingTheReadyOne(t *testing.T) {
	store := newTestStore(t)
	rec := startManager(t, store, noResync(jobOptions()))
	startFakeNode(t, store, 0, 20*time.Millisecond, func(p *api.Pod) bool { return p.Name != "stray" })
	addNodes(t, store, newNode("n1", nil, true))
	ds := mustCreate(t, store, newDaemonSet("agent")).(*api.DaemonSet)
	first := waitPlaced(t, store, "agent", "n1")[0]

	// A second pod on the node, matching the selector: it is adopted, and
	// as the one not ready it is the one deleted.
	stray := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "stray", Namespace: "default", Labels: map[string]string{"app": "agent"}},
		Spec:       api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "app", Image: "img:v1"}}},
	}
	mustCreate(t, store, stray)
	poll.True(t, 5*time.Second, "the stray pod adopted and deleted", func() (bool, string) {
		return !exists(t, store, api.KindPod, "stray"), describePods(dsPods(t, store, "agent"))
	})
	pods := waitPlaced(t, store, "agent", "n1")
	if pods[0].Name != first.Name || !isControlledBy(pods[0], ds.UID) {
		t.Fatalf("kept %s, want the ready pod %s", pods[0].Name, first.Name)
	}
	if evs := rec.Find(ReasonSuccessfulDelete); len(evs) != 1 || !strings.Contains(evs[0].Message, "stray") {
		t.Fatalf("delete events: %+v", evs)
	}
}

func TestKeepFirstPrefersReadyThenOldest(t *testing.T) {
	at := func(name string, sec int64, ready bool) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: api.NewTime(time.Unix(sec, 0))}}
		p.Status = runningStatus(api.PodRunning, ready, 0, time.Unix(sec, 0))
		return p
	}
	pods := []*api.Pod{at("new-ready", 20, true), at("old-unready", 5, false), at("b-old-ready", 10, true), at("a-old-ready", 10, true)}
	sort.SliceStable(pods, func(i, j int) bool { return keepFirst(pods[i], pods[j]) })
	if got := strings.Join(names2(pods), ","); got != "a-old-ready,b-old-ready,new-ready,old-unready" {
		t.Fatalf("order %s", got)
	}
}

// names2 keeps the order, unlike names.
func names2(pods []*api.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

// availabilityWatcher records, over every pod event of a DaemonSet, the most
// nodes (of those given) left without an available pod, and the most live
// pods at once.
type availabilityWatcher struct {
	unavailable atomic.Int32
	live        atomic.Int32
}

func watchAvailability(t *testing.T, store testStore, name string, nodes ...string) *availabilityWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sel := api.SelectorFromSet(map[string]string{"app": name})
	// Start from a list, not from the watch's initial events, which come
	// one at a time and would show the nodes uncovered but the first.
	objs, rv, err := store.List(ctx, api.KindPod, "default", sel)
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]*api.Pod{}
	for _, o := range objs {
		pods[o.GetObjectMeta().Name] = o.(*api.Pod)
	}
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{LabelSelector: sel, ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	w := &availabilityWatcher{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			p := ev.Object.(*api.Pod)
			if ev.Type == api.Deleted {
				delete(pods, p.Name)
			} else {
				pods[p.Name] = p
			}
			covered := map[string]bool{}
			var live int32
			for _, p := range pods {
				if isPodActive(p) {
					live++
					if api.IsPodReady(p) {
						covered[p.Spec.NodeName] = true
					}
				}
			}
			var down int32
			for _, n := range nodes {
				if !covered[n] {
					down++
				}
			}
			raise(&w.unavailable, down)
			raise(&w.live, live)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

func raise(v *atomic.Int32, n int32) {
	if n > v.Load() {
		v.Store(n)
	}
}

func TestDaemonSetRollingUpdateStaysWithinMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		maxUnavailable api.IntOrString
		want           int32
	}{
		{api.FromInt(1), 1},
		{api.FromString("34%"), 2}, // 1.02 of 3 nodes, rounded up
	} {
		t.Run(tc.maxUnavailable.String(), func(t *testing.T) {
			store := newTestStore(t)
			startManager(t, store, noResync(jobOptions()))
			startFakeNode(t, store, 40*time.Millisecond, 20*time.Millisecond, nil)
			threeNodes(t, store)
			ds := newDaemonSet("agent")
			ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.RollingUpdateStrategy,
				RollingUpdate: &api.RollingUpdateDaemonSet{MaxUnavailable: &tc.maxUnavailable}}
			mustCreate(t, store, ds)
			old := waitPlaced(t, store, "agent", "n1", "n2", "n3")
			waitDSStatus(t, store, "agent", allAvailable(3))

			w := watchAvailability(t, store, "agent", "n1", "n2", "n3")
			updateDS(t, store, "agent", func(ds *api.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:v2" })
			hash := dsHash(t, store, "agent")
			poll.True(t, 10*time.Second, "every pod replaced", func() (bool, string) {
				pods := dsPods(t, store, "agent")
				for _, p := range pods {
					if p.Labels[api.LabelControllerRevision] != hash || p.Spec.Containers[0].Image != "img:v2" {
						return false, describePods(pods)
					}
				}
				return placed(pods) == "n1:1 n2:1 n3:1" && len(pods) == 3, describePods(pods)
			})
			waitDSStatus(t, store, "agent", allAvailable(3))
			for _, p := range old {
				if exists(t, store, api.KindPod, p.Name) {
					t.Fatalf("old pod %s survived the update", p.Name)
				}
			}
			if got := w.unavailable.Load(); got != tc.want {
				t.Fatalf("at most %d nodes were unavailable at once, want exactly %d", got, tc.want)
			}
			if got := w.live.Load(); got > 3 {
				t.Fatalf("%d live pods at once without surge", got)
			}
		})
	}
}

func TestDaemonSetRollingUpdateWithSurge(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	startFakeNode(t, store, 40*time.Millisecond, 20*time.Millisecond, nil)
	threeNodes(t, store)
	surge, none := api.FromInt(1), api.FromInt(0)
	ds := newDaemonSet("agent")
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.RollingUpdateStrategy,
		RollingUpdate: &api.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &none}}
	mustCreate(t, store, ds)
	waitPlaced(t, store, "agent", "n1", "n2", "n3")
	waitDSStatus(t, store, "agent", allAvailable(3))

	w := watchAvailability(t, store, "agent", "n1", "n2", "n3")
	updateDS(t, store, "agent", func(ds *api.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	hash := dsHash(t, store, "agent")
	poll.True(t, 10*time.Second, "every pod replaced", func() (bool, string) {
		pods := dsPods(t, store, "agent")
		for _, p := range pods {
			if p.Labels[api.LabelControllerRevision] != hash {
				return false, describePods(pods)
			}
		}
		return placed(pods) == "n1:1 n2:1 n3:1" && len(pods) == 3, describePods(pods)
	})
	waitDSStatus(t, store, "agent", allAvailable(3))
	if got := w.unavailable.Load(); got != 0 {
		t.Fatalf("%d nodes were without an available pod during a surge update", got)
	}
	if got := w.live.Load(); got != 4 {
		t.Fatalf("at most %d live pods at once, want 4 with a surge of 1", got)
	}
}

func TestDaemonSetOnDeleteReplacesOnlyDeletedPods(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	startFakeNode(t, store, 0, 20*time.Millisecond, nil)
	threeNodes(t, store)
	ds := newDaemonSet("agent")
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteDaemonSetStrategy}
	mustCreate(t, store, ds)
	old := waitPlaced(t, store, "agent", "n1", "n2", "n3")
	oldHash := old[0].Labels[api.LabelControllerRevision]

	updateDS(t, store, "agent", func(ds *api.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	waitDSStatus(t, store, "agent", api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3,
		NumberReady: 3, NumberAvailable: 3})
	holdsFor(t, 300*time.Millisecond, "the old pods left alone", func() (bool, string) {
		pods := dsPods(t, store, "agent")
		return strings.Join(names(pods), ",") == strings.Join(names(old), ","), describePods(pods)
	})

	var victim *api.Pod
	for _, p := range old {
		if p.Spec.NodeName == "n2" {
			victim = p
		}
	}
	if _, err := store.Delete(t.Context(), api.KindPod, "default", victim.Name, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPlaced(t, store, "agent", "n1", "n2", "n3")
	hash := dsHash(t, store, "agent")
	for _, p := range pods {
		want := oldHash
		if p.Spec.NodeName == "n2" {
			want = hash
		}
		if p.Labels[api.LabelControllerRevision] != want {
			t.Fatalf("pod %s on %s has revision %s, want %s", p.Name, p.Spec.NodeName, p.Labels[api.LabelControllerRevision], want)
		}
	}
	waitDSStatus(t, store, "agent", api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3,
		NumberReady: 3, NumberAvailable: 3, UpdatedNumberScheduled: 1})
}
