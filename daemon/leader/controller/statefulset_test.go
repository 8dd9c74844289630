package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func newStatefulSet(name string, replicas int32) *api.StatefulSet {
	t := podTemplate(name, "img:v1")
	t.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "data", MountPath: "/data"}}
	return &api.StatefulSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.StatefulSetSpec{
			Replicas:    api.Int32(replicas),
			ServiceName: name,
			Selector:    &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:    t,
			VolumeClaimTemplates: []api.PersistentVolumeClaim{{ObjectMeta: api.ObjectMeta{Name: "data"},
				Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{api.ReadWriteOnce}}}},
		},
	}
}

func getSTS(t *testing.T, store testStore, name string) *api.StatefulSet {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindStatefulSet, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.StatefulSet)
}

func updateSTS(t *testing.T, store testStore, name string, change func(*api.StatefulSet)) {
	t.Helper()
	for range 20 {
		s := getSTS(t, store, name)
		change(s)
		if _, err := store.Update(context.Background(), s); err == nil {
			return
		} else if !api.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}

func stsPods(t *testing.T, store testStore, app string) map[string]*api.Pod {
	t.Helper()
	sel, _ := (&api.LabelSelector{MatchLabels: map[string]string{"app": app}}).AsSelector()
	out := map[string]*api.Pod{}
	for _, p := range listPods(t, store, sel) {
		out[p.Name] = p
	}
	return out
}

func claimNames(t *testing.T, store testStore) []string {
	t.Helper()
	objs, _, err := store.List(context.Background(), api.KindClaim, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetObjectMeta().Name)
	}
	slices.Sort(out)
	return out
}

// podWatch records, from a watch of the store, the order in which pods
// were first seen and first seen being deleted, and checks an invariant
// on every pod event.
type podWatch struct {
	mu      sync.Mutex
	created []string
	deleted []string
	seen    map[string]bool
	marked  map[string]bool
}

func watchPods(t *testing.T, store testStore, check func(ev api.WatchEvent) error) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{seen: map[string]bool{}, marked: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			p, ok := ev.Object.(*api.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			if !pw.seen[p.UID] {
				pw.seen[p.UID] = true
				pw.created = append(pw.created, p.Name)
			}
			if (p.DeletionTimestamp != nil || ev.Type == api.Deleted) && !pw.marked[p.UID] {
				pw.marked[p.UID] = true
				pw.deleted = append(pw.deleted, p.Name)
			}
			pw.mu.Unlock()
			if check != nil {
				if err := check(ev); err != nil {
					t.Error(err)
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return pw
}

func (w *podWatch) order() (created, deleted []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.created), slices.Clone(w.deleted)
}

func TestStatefulSetStartsPodsInOrderEachAfterTheOneBeforeIsReady(t *testing.T) {
	store := newTestStore(t)
	var allowReady atomic.Int32 // pods with an ordinal below this get ready
	allowReady.Store(1)
	startFakeNode(t, store, 20*time.Millisecond, 0, func(p *api.Pod) bool {
		ord, _ := ordinalOf("web", p.Name)
		return ord < allowReady.Load()
	})
	rec := startManager(t, store, fastOptions())
	mustCreate(t, store, newStatefulSet("web", 3))

	poll.True(t, 5*time.Second, "web-0 ready and web-1 made", func() (bool, string) {
		pods := stsPods(t, store, "web")
		return pods["web-0"] != nil && api.IsPodReady(pods["web-0"]) && pods["web-1"] != nil, describePods(activePods(listPods(t, store, nil)))
	})
	// web-1 never gets ready: web-2 must not be made.
	time.Sleep(500 * time.Millisecond)
	if pods := stsPods(t, store, "web"); pods["web-2"] != nil {
		t.Fatalf("web-2 was made while web-1 was not ready: %s", describePods(listPods(t, store, nil)))
	}
	allowReady.Store(3)
	poll.True(t, 5*time.Second, "3 ready replicas", func() (bool, string) {
		s := getSTS(t, store, "web")
		return s.Status.ReadyReplicas == 3 && s.Status.AvailableReplicas == 3 && s.Status.ObservedGeneration == s.Generation, fmt.Sprintf("%+v", s.Status)
	})
	s := getSTS(t, store, "web")
	if s.Status.CurrentRevision == "" || s.Status.CurrentRevision != s.Status.UpdateRevision || s.Status.UpdatedReplicas != 3 || s.Status.CurrentReplicas != 3 {
		t.Errorf("status after the start: %+v", s.Status)
	}
	for i, name := range []string{"web-0", "web-1", "web-2"} {
		p := stsPods(t, store, "web")[name]
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" {
			t.Errorf("%s: hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		if p.Labels[api.LabelStatefulSetPodName] != name || p.Labels[api.LabelPodIndex] != fmt.Sprint(i) ||
			p.Labels[api.LabelControllerRevision] != s.Status.UpdateRevision {
			t.Errorf("%s: labels %v", name, p.Labels)
		}
		claim := "data-" + name
		if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Name != "data" || p.Spec.Volumes[0].PersistentVolumeClaim == nil ||
			p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != claim {
			t.Errorf("%s: volumes %+v, want the claim %s as volume data", name, p.Spec.Volumes, claim)
		}
	}
	if got := claimNames(t, store); !slices.Equal(got, []string{"data-web-0", "data-web-1", "data-web-2"}) {
		t.Errorf("claims %v", got)
	}
	var msgs []string
	for _, e := range rec.Find(ReasonSuccessfulCreate) {
		if strings.HasPrefix(e.Message, "create Pod") {
			msgs = append(msgs, e.Message)
		}
	}
	want := []string{"create Pod web-0 in StatefulSet web successful", "create Pod web-1 in StatefulSet web successful", "create Pod web-2 in StatefulSet web successful"}
	if !slices.Equal(msgs, want) {
		t.Errorf("events %q, want %q", msgs, want)
	}
	claimEvent := false
	for _, e := range rec.Find(ReasonSuccessfulCreate) {
		claimEvent = claimEvent || e.Message == "create Claim data-web-0 Pod web-0 in StatefulSet web success"
	}
	if !claimEvent {
		t.Errorf("no claim event in %+v", rec.Find(ReasonSuccessfulCreate))
	}
}

func TestStatefulSetOrdinalsStart(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 0, nil)
	startManager(t, store, fastOptions())
	s := newStatefulSet("ord", 2)
	s.Spec.Ordinals = &api.StatefulSetOrdinals{Start: 5}
	mustCreate(t, store, s)
	waitReadySTS(t, store, "ord", 2)
	pods := stsPods(t, store, "ord")
	if pods["ord-5"] == nil || pods["ord-6"] == nil || len(pods) != 2 || pods["ord-5"].Labels[api.LabelPodIndex] != "5" {
		t.Fatalf("pods %s, want ord-5 and ord-6", describePods(listPods(t, store, nil)))
	}
	if got := claimNames(t, store); !slices.Equal(got, []string{"data-ord-5", "data-ord-6"}) {
		t.Errorf("claims %v", got)
	}
}

func TestStatefulSetScalesUpInOrderAndDownFromTheHighestOrdinal(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 30*time.Millisecond, 150*time.Millisecond, nil)
	startManager(t, store, fastOptions())
	// Every pod is made only once the pods below it are ready, and a pod
	// is deleted only once every pod above it is gone.
	var mu sync.Mutex
	live := map[string]*api.Pod{}
	w := watchPods(t, store, func(ev api.WatchEvent) error {
		p := ev.Object.(*api.Pod)
		ord, _ := ordinalOf("web", p.Name)
		mu.Lock()
		defer mu.Unlock()
		_, known := live[p.Name]
		if ev.Type == api.Deleted {
			delete(live, p.Name)
			return nil
		}
		live[p.Name] = p
		if !known {
			for i := range ord {
				q := live[api.StatefulSetPodName("web", i)]
				if q == nil || !api.IsPodReady(q) || q.DeletionTimestamp != nil {
					return fmt.Errorf("%s made while web-%d was not ready", p.Name, i)
				}
			}
		}
		if p.DeletionTimestamp != nil {
			for name := range live {
				if o, _ := ordinalOf("web", name); o > ord {
					return fmt.Errorf("%s deleted while %s was still there", p.Name, name)
				}
			}
		}
		return nil
	})
	mustCreate(t, store, newStatefulSet("web", 2))
	waitReadySTS(t, store, "web", 2)
	updateSTS(t, store, "web", func(s *api.StatefulSet) { s.Spec.Replicas = api.Int32(4) })
	waitReadySTS(t, store, "web", 4)
	updateSTS(t, store, "web", func(s *api.StatefulSet) { s.Spec.Replicas = api.Int32(1) })
	waitReadySTS(t, store, "web", 1)
	poll.True(t, 5*time.Second, "only web-0 left", func() (bool, string) {
		pods := stsPods(t, store, "web")
		return len(pods) == 1 && pods["web-0"] != nil, describePods(listPods(t, store, nil))
	})
	created, deleted := w.order()
	if want := []string{"web-0", "web-1", "web-2", "web-3"}; !slices.Equal(created, want) {
		t.Errorf("made %v, want %v", created, want)
	}
	if want := []string{"web-3", "web-2", "web-1"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	// The claims stay with the default retention policy (Retain).
	if got := claimNames(t, store); len(got) != 4 {
		t.Errorf("claims after the scale-down: %v, want all 4 kept", got)
	}
}

func waitReadySTS(t *testing.T, store testStore, name string, n int32) {
	t.Helper()
	poll.True(t, 10*time.Second, fmt.Sprintf("%d ready replicas of %s", n, name), func() (bool, string) {
		s := getSTS(t, store, name)
		return s.Status.ObservedGeneration == s.Generation && s.Status.Replicas == n && s.Status.ReadyReplicas == n, fmt.Sprintf("%+v", s.Status)
	})
}

func TestStatefulSetParallelMakesAllPodsAtOnce(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 0, func(*api.Pod) bool { return false }) // never ready
	startManager(t, store, fastOptions())
	s := newStatefulSet("par", 3)
	s.Spec.PodManagementPolicy = api.ParallelPodManagement
	mustCreate(t, store, s)
	poll.True(t, 5*time.Second, "3 pods though none is ready", func() (bool, string) {
		return len(stsPods(t, store, "par")) == 3, describePods(listPods(t, store, nil))
	})
	updateSTS(t, store, "par", func(s *api.StatefulSet) { s.Spec.Replicas = api.Int32(0) })
	poll.True(t, 5*time.Second, "all deleted though none is ready", func() (bool, string) {
		return len(stsPods(t, store, "par")) == 0, describePods(listPods(t, store, nil))
	})
}

func TestStatefulSetRemakesADeletedOrFailedPodWithTheSameNameAndClaim(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 50*time.Millisecond, nil)
	startManager(t, store, fastOptions())
	mustCreate(t, store, newStatefulSet("db", 3))
	waitReadySTS(t, store, "db", 3)

	old := stsPods(t, store, "db")["db-1"]
	if _, err := store.Delete(context.Background(), api.KindPod, "default", "db-1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "db-1 made again", func() (bool, string) {
		p := stsPods(t, store, "db")["db-1"]
		return p != nil && p.UID != old.UID && api.IsPodReady(p), describePods(listPods(t, store, nil))
	})
	if p := stsPods(t, store, "db")["db-1"]; p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-1" {
		t.Errorf("db-1 made again with volumes %+v", p.Spec.Volumes)
	}

	failed := stsPods(t, store, "db")["db-2"]
	failed.Status.Phase = api.PodFailed
	if _, err := store.UpdateStatus(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "failed db-2 replaced", func() (bool, string) {
		p := stsPods(t, store, "db")["db-2"]
		return p != nil && p.UID != failed.UID && api.IsPodReady(p), describePods(listPods(t, store, nil))
	})
	if got := claimNames(t, store); !slices.Equal(got, []string{"data-db-0", "data-db-1", "data-db-2"}) {
		t.Errorf("claims %v", got)
	}
}

func TestStatefulSetDeletesClaimsOnlyAsTheRetentionPolicySays(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 0, nil)
	startManager(t, store, fastOptions())
	s := newStatefulSet("ret", 3)
	s.Spec.PersistentVolumeClaimRetentionPolicy = &api.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenScaled: api.DeleteClaimPolicy, WhenDeleted: api.RetainClaimPolicy}
	mustCreate(t, store, s)
	waitReadySTS(t, store, "ret", 3)
	updateSTS(t, store, "ret", func(s *api.StatefulSet) { s.Spec.Replicas = api.Int32(1) })
	poll.True(t, 5*time.Second, "the claims of the removed pods deleted", func() (bool, string) {
		got := claimNames(t, store)
		return slices.Equal(got, []string{"data-ret-0"}), fmt.Sprint(got)
	})
	if _, err := store.Delete(context.Background(), api.KindStatefulSet, "default", "ret", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "the pods deleted with the set", func() (bool, string) {
		return len(stsPods(t, store, "ret")) == 0, describePods(listPods(t, store, nil))
	})
	time.Sleep(300 * time.Millisecond)
	if got := claimNames(t, store); !slices.Equal(got, []string{"data-ret-0"}) {
		t.Errorf("claims after deleting the set with whenDeleted Retain: %v", got)
	}
}

func TestStatefulSetDeletesClaimsWithTheSetWhenDeletedIsDelete(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 0, nil)
	startManager(t, store, fastOptions())
	s := newStatefulSet("gone", 2)
	s.Spec.PersistentVolumeClaimRetentionPolicy = &api.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: api.DeleteClaimPolicy}
	mustCreate(t, store, s)
	waitReadySTS(t, store, "gone", 2)
	if _, err := store.Delete(context.Background(), api.KindStatefulSet, "default", "gone", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 10*time.Second, "the claims deleted with the set", func() (bool, string) {
		got := claimNames(t, store)
		return len(got) == 0, fmt.Sprint(got)
	})
}

func TestStatefulSetRollingUpdateReplacesFromTheTopDownToThePartition(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 30*time.Millisecond, 50*time.Millisecond, nil)
	startManager(t, store, fastOptions())
	mustCreate(t, store, newStatefulSet("web", 3))
	waitReadySTS(t, store, "web", 3)
	oldRev := getSTS(t, store, "web").Status.CurrentRevision
	w := watchPods(t, store, nil)

	updateSTS(t, store, "web", func(s *api.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "img:v2"
		s.Spec.UpdateStrategy.RollingUpdate.Partition = api.Int32(1)
	})
	poll.True(t, 10*time.Second, "web-1 and web-2 updated", func() (bool, string) {
		s := getSTS(t, store, "web")
		return s.Status.UpdatedReplicas == 2 && s.Status.ReadyReplicas == 3 && s.Status.ObservedGeneration == s.Generation, fmt.Sprintf("%+v", s.Status)
	})
	time.Sleep(300 * time.Millisecond)
	pods := stsPods(t, store, "web")
	s := getSTS(t, store, "web")
	if pods["web-0"].Spec.Containers[0].Image != "img:v1" || pods["web-0"].Labels[api.LabelControllerRevision] != oldRev {
		t.Errorf("web-0 below the partition was updated: %+v", pods["web-0"].Labels)
	}
	if s.Status.CurrentRevision != oldRev || s.Status.UpdateRevision == oldRev || s.Status.CurrentReplicas != 1 {
		t.Errorf("status with the partition: %+v", s.Status)
	}
	_, deleted := w.order()
	if want := []string{"web-2", "web-1"}; !slices.Equal(deleted, want) {
		t.Errorf("replaced %v, want %v", deleted, want)
	}

	// A pod below the partition is made again from the current revision.
	if _, err := store.Delete(context.Background(), api.KindPod, "default", "web-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "web-0 made again from the current revision", func() (bool, string) {
		p := stsPods(t, store, "web")["web-0"]
		return p != nil && p.UID != pods["web-0"].UID && api.IsPodReady(p), describePods(listPods(t, store, nil))
	})
	if p := stsPods(t, store, "web")["web-0"]; p.Spec.Containers[0].Image != "img:v1" || p.Labels[api.LabelControllerRevision] != oldRev {
		t.Errorf("web-0 below the partition made again with %s, revision %s; want img:v1, %s", p.Spec.Containers[0].Image, p.Labels[api.LabelControllerRevision], oldRev)
	}

	updateSTS(t, store, "web", func(s *api.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = api.Int32(0) })
	poll.True(t, 10*time.Second, "all updated and the revision current", func() (bool, string) {
		s := getSTS(t, store, "web")
		return s.Status.UpdatedReplicas == 3 && s.Status.ReadyReplicas == 3 && s.Status.CurrentRevision == s.Status.UpdateRevision, fmt.Sprintf("%+v", s.Status)
	})
	if p := stsPods(t, store, "web")["web-0"]; p.Spec.Containers[0].Image != "img:v2" {
		t.Errorf("web-0 image %s", p.Spec.Containers[0].Image)
	}
}

func TestStatefulSetOnDeleteReplacesOnlyDeletedPods(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 30*time.Millisecond, nil)
	startManager(t, store, fastOptions())
	s := newStatefulSet("od", 2)
	s.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.OnDeleteStatefulSetUpdate}
	mustCreate(t, store, s)
	waitReadySTS(t, store, "od", 2)
	updateSTS(t, store, "od", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	time.Sleep(500 * time.Millisecond)
	for name, p := range stsPods(t, store, "od") {
		if p.Spec.Containers[0].Image != "img:v1" || p.DeletionTimestamp != nil {
			t.Errorf("%s replaced under OnDelete", name)
		}
	}
	if _, err := store.Delete(context.Background(), api.KindPod, "default", "od-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "od-0 made again from the new template", func() (bool, string) {
		p := stsPods(t, store, "od")["od-0"]
		return p != nil && p.Spec.Containers[0].Image == "img:v2" && api.IsPodReady(p), describePods(listPods(t, store, nil))
	})
	if p := stsPods(t, store, "od")["od-1"]; p.Spec.Containers[0].Image != "img:v1" {
		t.Errorf("od-1 replaced under OnDelete")
	}
	st := getSTS(t, store, "od").Status
	if st.UpdatedReplicas != 1 || st.CurrentReplicas != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestOrdinalOf(t *testing.T) {
	for _, c := range []struct {
		pod  string
		ord  int32
		okay bool
	}{{"web-0", 0, true}, {"web-12", 12, true}, {"web-01", 0, false}, {"web-", 0, false}, {"web-x", 0, false},
		{"web-1-2", 0, false}, {"webby-1", 0, false}, {"web--1", 0, false}} {
		ord, ok := ordinalOf("web", c.pod)
		if ord != c.ord || ok != c.okay {
			t.Errorf("ordinalOf(web, %s) = %d %v, want %d %v", c.pod, ord, ok, c.ord, c.okay)
		}
	}
}

func listRevisions(t *testing.T, store testStore) map[string]*api.ControllerRevision {
	t.Helper()
	objs, _, err := store.List(context.Background(), api.KindRevision, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*api.ControllerRevision{}
	for _, o := range objs {
		out[o.GetObjectMeta().Name] = o.(*api.ControllerRevision)
	}
	return out
}

func TestStatefulSetKeepsRevisionsAsControllerRevisions(t *testing.T) {
	store := newTestStore(t)
	startFakeNode(t, store, 0, 20*time.Millisecond, nil)
	startManager(t, store, fastOptions())
	s := newStatefulSet("rev", 2)
	s.Spec.RevisionHistoryLimit = api.Int32(1)
	mustCreate(t, store, s)
	waitReadySTS(t, store, "rev", 2)
	v1 := getSTS(t, store, "rev").Status.UpdateRevision
	revs := listRevisions(t, store)
	if r := revs[v1]; len(revs) != 1 || r == nil || r.Revision != 1 || r.ControllerRef() == nil || r.ControllerRef().Name != "rev" ||
		r.Labels["app"] != "rev" {
		t.Fatalf("revisions after the start: %+v", revs)
	}
	if tmpl, err := revisionTemplate(revs[v1]); err != nil || tmpl.Spec.Containers[0].Image != "img:v1" ||
		!strings.Contains(string(revs[v1].Data), `"$patch":"replace"`) {
		t.Fatalf("revision data %s: %v", revs[v1].Data, err)
	}
	rollTo := func(image string) string {
		updateSTS(t, store, "rev", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = image })
		var rev string
		poll.True(t, 10*time.Second, "rolled out "+image, func() (bool, string) {
			s := getSTS(t, store, "rev")
			rev = s.Status.UpdateRevision
			return s.Status.ObservedGeneration == s.Generation && s.Status.UpdatedReplicas == 2 && s.Status.ReadyReplicas == 2 &&
				s.Status.CurrentRevision == rev, fmt.Sprintf("%+v", s.Status)
		})
		return rev
	}
	v2 := rollTo("img:v2")
	v3 := rollTo("img:v3")
	// History limit 1: v1 is gone, v2 kept, v3 current.
	poll.True(t, 5*time.Second, "the oldest revision deleted", func() (bool, string) {
		revs := listRevisions(t, store)
		return len(revs) == 2 && revs[v2] != nil && revs[v3] != nil && revs[v3].Revision == 3, fmt.Sprint(len(revs))
	})
	// Back to v2: its revision is reused with the next number.
	if back := rollTo("img:v2"); back != v2 {
		t.Fatalf("rolled back to revision %s, want %s", back, v2)
	}
	poll.True(t, 5*time.Second, "v2 renumbered 4", func() (bool, string) {
		r := listRevisions(t, store)[v2]
		return r != nil && r.Revision == 4, fmt.Sprintf("%+v", r)
	})
}
