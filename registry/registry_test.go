package registry

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

func newTestObjects(t *testing.T, path string) *Registry {
	t.Helper()
	st, err := gossip.Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := New(st)
	if _, err := o.Get(context.Background(), api.KindNamespace, "", "default"); api.IsNotFound(err) {
		if _, err := o.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func testDeployment(name string, replicas int32) *api.Deployment {
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img:v1"}}},
			},
		},
	}
}

func TestCreateGetUpdateConflict(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	created, err := o.Create(ctx, testDeployment("web", 3))
	if err != nil {
		t.Fatal(err)
	}
	m := created.GetObjectMeta()
	if m.UID == "" || m.CreationTimestamp.IsZero() || m.Generation != 1 || m.ResourceVersion == "" {
		t.Fatalf("identity not set: %+v", m)
	}
	if _, err := o.Create(ctx, testDeployment("web", 3)); !api.IsAlreadyExists(err) {
		t.Fatalf("second create: want AlreadyExists, got %v", err)
	}
	got, err := o.Get(ctx, api.KindDeployment, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	d := got.(*api.Deployment)
	if d.Spec.Strategy.Type != api.RollingUpdateStrategy || *d.Spec.RevisionHistoryLimit != 10 {
		t.Fatalf("defaults not applied: %+v", d.Spec)
	}
	stale := d.ResourceVersion
	d.Spec.Replicas = api.Int32(5)
	upd, err := o.Update(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if upd.GetObjectMeta().Generation != 2 {
		t.Fatalf("generation after a spec change = %d, want 2", upd.GetObjectMeta().Generation)
	}
	d.ResourceVersion = stale
	d.Spec.Replicas = api.Int32(7)
	if _, err := o.Update(ctx, d); !api.IsConflict(err) {
		t.Fatalf("update with a stale resourceVersion: want Conflict, got %v", err)
	}
	// A label change alone keeps the generation.
	cur, _ := o.Get(ctx, api.KindDeployment, "default", "web")
	cur.GetObjectMeta().Labels["tier"] = "front"
	upd, err = o.Update(ctx, cur)
	if err != nil || upd.GetObjectMeta().Generation != 2 {
		t.Fatalf("label change: gen %d err %v", upd.GetObjectMeta().Generation, err)
	}
}

func TestInvalidObjectsAreRejectedAndNotStored(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	bad := testDeployment("Bad_Name", -1)
	bad.Spec.Template.Spec.Containers[0].Image = ""
	_, err := o.Create(ctx, bad)
	if !api.IsInvalid(err) {
		t.Fatalf("want Invalid, got %v", err)
	}
	se := err.(*api.StatusError)
	fields := map[string]bool{}
	for _, c := range se.ErrStatus.Details.Causes {
		fields[c.Field] = true
	}
	for _, f := range []string{"metadata.name", "spec.replicas", "spec.template.spec.containers[0].image"} {
		if !fields[f] {
			t.Errorf("no cause for %s in %v", f, se.ErrStatus.Details.Causes)
		}
	}
	if list, _, _ := o.List(ctx, api.KindDeployment, "", nil); len(list) != 0 {
		t.Fatalf("an invalid object was stored: %d", len(list))
	}
	if _, err := o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "nowhere"}}); !api.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: want NotFound, got %v", err)
	}
}

func TestStatusIsSeparateFromSpec(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	obj, _ := o.Create(ctx, testDeployment("web", 3))
	d := obj.(*api.Deployment)
	userCopy := *d // read before the controller writes status
	d.Status.ReadyReplicas = 3
	if _, err := o.UpdateStatus(ctx, d); err != nil {
		t.Fatal(err)
	}
	userCopy.Spec.Replicas = api.Int32(4)
	userCopy.ResourceVersion = "" // apply-style write
	if _, err := o.Update(ctx, &userCopy); err != nil {
		t.Fatal(err)
	}
	got, _ := o.Get(ctx, api.KindDeployment, "default", "web")
	g := got.(*api.Deployment)
	if *g.Spec.Replicas != 4 || g.Status.ReadyReplicas != 3 {
		t.Fatalf("spec %d status %d: one write lost the other", *g.Spec.Replicas, g.Status.ReadyReplicas)
	}
	// A status of an earlier incarnation never attaches to a re-created object.
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, _ := o.Create(ctx, testDeployment("web", 1))
	if again.(*api.Deployment).Status.ReadyReplicas != 0 {
		t.Fatal("stale status attached to a new object")
	}
	got, _ = o.Get(ctx, api.KindDeployment, "default", "web")
	if got.(*api.Deployment).Status.ReadyReplicas != 0 {
		t.Fatal("stale status attached to a new object after reload")
	}
}

func TestPodDeleteIsGracefulWhenBound(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "i:1"}}}}
	if _, err := o.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := o.Get(ctx, api.KindPod, "default", "p")
	if err != nil {
		t.Fatalf("a bound pod vanished at once: %v", err)
	}
	if got.GetObjectMeta().DeletionTimestamp == nil || *got.GetObjectMeta().DeletionGracePeriodSeconds != 30 {
		t.Fatalf("not marked terminating: %+v", got.GetObjectMeta())
	}
	if _, err := o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindPod, "default", "p"); !api.IsNotFound(err) {
		t.Fatalf("force delete: want NotFound, got %v", err)
	}
}

func TestApplyIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	good := testDeployment("a", 1)
	bad := testDeployment("b", 1)
	bad.Spec.Selector = nil
	bad.Spec.Template.Labels = nil
	if _, err := o.Apply(ctx, []api.Object{good, bad}); !api.IsInvalid(err) {
		t.Fatalf("want Invalid, got %v", err)
	}
	if _, err := o.Get(ctx, api.KindDeployment, "default", "a"); !api.IsNotFound(err) {
		t.Fatal("the valid half of a failed apply was stored")
	}
	acts, err := o.Apply(ctx, []api.Object{testDeployment("a", 1)})
	if err != nil || acts[0] != ActionCreated {
		t.Fatalf("%v %v", acts, err)
	}
	acts, _ = o.Apply(ctx, []api.Object{testDeployment("a", 1)})
	if acts[0] != ActionUnchanged {
		t.Fatalf("re-apply: %v", acts)
	}
	acts, _ = o.Apply(ctx, []api.Object{testDeployment("a", 2)})
	if acts[0] != ActionConfigured {
		t.Fatalf("changed apply: %v", acts)
	}
}

func TestPersistenceSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := gossip.Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	o := New(st)
	o.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}})
	created, err := o.Create(ctx, testDeployment("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	o.Create(ctx, testDeployment("gone", 1))
	o.Delete(ctx, api.KindDeployment, "default", "gone", api.DeleteOptions{})
	last := st.Stamp()
	st.Close()

	st2, err := gossip.Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	o2 := New(st2)
	got, err := o2.Get(ctx, api.KindDeployment, "default", "web")
	if err != nil || got.GetObjectMeta().UID != created.GetObjectMeta().UID {
		t.Fatalf("object lost across reopen: %v", err)
	}
	if _, err := o2.Get(ctx, api.KindDeployment, "default", "gone"); !api.IsNotFound(err) {
		t.Fatal("a deleted object came back")
	}
	if st2.Clock().Now() <= last {
		t.Fatal("clock restarted behind the persisted versions")
	}
}

func TestTombstonesAreCollectedAfterRetention(t *testing.T) {
	ctx := context.Background()
	st, _ := gossip.Open(filepath.Join(t.TempDir(), "s.db"), "n1", nil)
	defer st.Close()
	st.Update(ctx, func(t *gossip.Txn) error { t.Put("x", []byte("1")); return nil })
	st.Update(ctx, func(t *gossip.Txn) error { t.Delete("x"); return nil })
	if n, _ := st.CollectTombstones(ctx, time.Hour); n != 0 {
		t.Fatal("a fresh tombstone was collected")
	}
	if n, _ := st.CollectTombstones(ctx, -time.Second); n != 1 {
		t.Fatalf("collected %d, want 1", n)
	}
	if st.Get("x") != nil {
		t.Fatal("tombstone still present")
	}
}

func nextEvent(t *testing.T, ch <-chan api.WatchEvent) api.WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no watch event within 2s")
	}
	return api.WatchEvent{}
}

func TestWatchOrderSelectorAndResume(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newTestObjects(t, "")
	o.Create(ctx, testDeployment("before", 1))
	sel, _ := api.ParseSelector("app in (before,web)")
	ch, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "before" {
		t.Fatalf("initial event %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
	o.Create(ctx, testDeployment("other", 1)) // filtered out
	web, _ := o.Create(ctx, testDeployment("web", 1))
	if ev := nextEvent(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "web" {
		t.Fatalf("got %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
	d := web.(*api.Deployment)
	d.Status.Replicas = 1
	o.UpdateStatus(ctx, d)
	ev := nextEvent(t, ch)
	if ev.Type != api.Modified || ev.Object.(*api.Deployment).Status.Replicas != 1 {
		t.Fatalf("status change: %s %+v", ev.Type, ev.Object.(*api.Deployment).Status)
	}
	resumeFrom := ev.Object.GetObjectMeta().ResourceVersion
	o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{})
	if ev := nextEvent(t, ch); ev.Type != api.Deleted || ev.Object.GetObjectMeta().Name != "web" {
		t.Fatalf("got %s", ev.Type)
	}
	// A watch resumed from a version replays what came after it.
	ch2, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{ResourceVersion: resumeFrom})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ch2); ev.Type != api.Deleted || ev.Object.GetObjectMeta().Name != "web" {
		t.Fatalf("resumed watch got %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
}

func TestWatchTooOldIsGone(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	first := o.Store().Stamp()
	for i := 0; i < gossip.HistorySize+10; i++ {
		o.Store().Update(ctx, func(t *gossip.Txn) error { t.Put("x/y", []byte{byte(i)}); return nil })
	}
	if _, err := o.Watch(ctx, api.KindPod, "", api.ListOptions{ResourceVersion: itoa(first)}); !api.IsGone(err) {
		t.Fatalf("want Gone, got %v", err)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestJobGetsGeneratedSelectorAndSurvivesReapply(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	job := func() *api.Job {
		return &api.Job{ObjectMeta: api.ObjectMeta{Name: "j", Namespace: "default"},
			Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: api.RestartNever,
				Containers: []api.Container{{Name: "c", Image: "i:1"}}}}}}
	}
	created, err := o.Create(ctx, job())
	if err != nil {
		t.Fatal(err)
	}
	j := created.(*api.Job)
	if j.Spec.Selector.MatchLabels[api.LabelBatchControllerUID] != j.UID || j.Spec.Template.Labels[api.LabelJobName] != "j" {
		t.Fatalf("no generated selector: %+v %v", j.Spec.Selector, j.Spec.Template.Labels)
	}
	if acts, err := o.Apply(ctx, []api.Object{job()}); err != nil || acts[0] != ActionUnchanged {
		t.Fatalf("re-apply of the same job: %v %v", acts, err)
	}
	bad := job()
	bad.Name = "always"
	bad.Spec.Template.Spec.RestartPolicy = api.RestartAlways
	if _, err := o.Create(ctx, bad); !api.IsInvalid(err) || !strings.Contains(err.Error(), "spec.template.spec.restartPolicy") {
		t.Fatalf("restartPolicy Always: %v", err)
	}
}

// An admission step sees every committed object, edits included, and a
// second look reuses what the first decoded.
func TestAdmissionViewSeesChangesAndReusesDecodes(t *testing.T) {
	o := newTestObjects(t, "")
	ctx := context.Background()
	var objs []api.Object
	o.AddAdmission(func(v *TxnView, _, obj api.Object) error {
		if _, ok := obj.(*api.Deployment); ok {
			objs = v.List(api.KindDeployment)
		}
		return nil
	})
	images := func() map[string]string {
		out := map[string]string{}
		for _, d := range objs {
			d := d.(*api.Deployment)
			out[d.Name] = d.Spec.Template.Spec.Containers[0].Image
		}
		return out
	}
	create := func(name string) {
		t.Helper()
		if _, err := o.Create(ctx, testDeployment(name, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"d0", "d1", "d2", "d3"} {
		create(n)
	}
	first := map[string]api.Object{}
	for _, d := range objs {
		first[d.GetObjectMeta().Name] = d
	}
	got, err := o.Get(ctx, api.KindDeployment, "default", "d0")
	if err != nil {
		t.Fatal(err)
	}
	d0 := got.(*api.Deployment)
	d0.Spec.Template.Spec.Containers[0].Image = "img:v2"
	if _, err := o.Update(ctx, d0); err != nil {
		t.Fatal(err)
	}
	create("d4")
	if got := images(); got["d0"] != "img:v2" || got["d1"] != "img:v1" || len(got) != 4 {
		t.Fatalf("admission saw %v", got)
	}
	for _, d := range objs {
		if d.GetObjectMeta().Name == "d1" && d != first["d1"] {
			t.Fatal("an unchanged object was decoded again")
		}
	}
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "d1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	create("d5")
	if got := images(); len(got) != 4 || got["d1"] != "" {
		t.Fatalf("after a delete the admission saw %v", got)
	}
}

// In a bulk apply, each admission sees the objects staged before it, each
// decoded once however many objects follow.
func TestAdmissionViewOfABulkApplyDecodesStagedObjectsOnce(t *testing.T) {
	o := newTestObjects(t, "")
	var calls [][]api.Object
	o.AddAdmission(func(v *TxnView, _, obj api.Object) error {
		if _, ok := obj.(*api.Deployment); ok {
			calls = append(calls, v.List(api.KindDeployment))
		}
		return nil
	})
	var objs []api.Object
	for _, n := range []string{"a", "b", "c", "d"} {
		objs = append(objs, testDeployment(n, 1))
	}
	if _, err := o.Apply(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 || len(calls[3]) != 3 {
		t.Fatalf("admission calls saw %d objects at the end, over %d calls", len(calls[len(calls)-1]), len(calls))
	}
	find := func(list []api.Object, name string) api.Object {
		for _, x := range list {
			if x.GetObjectMeta().Name == name {
				return x
			}
		}
		return nil
	}
	if a1, a3 := find(calls[1], "a"), find(calls[3], "a"); a1 == nil || a1 != a3 {
		t.Fatal("a staged object was decoded again for a later admission")
	}
}

func TestAdmissionViewGetsOneObjectAndWarnsTheWriter(t *testing.T) {
	o := newTestObjects(t, "")
	var seen *api.Namespace
	o.AddAdmission(func(v *TxnView, _, obj api.Object) error {
		if _, ok := obj.(*api.ConfigMap); ok {
			seen, _ = v.Get(api.KindNamespace, "", obj.GetObjectMeta().Namespace).(*api.Namespace)
			if v.Get(api.KindNamespace, "", "nowhere") != nil {
				t.Error("a missing namespace was found")
			}
			v.Warn("careful")
		}
		return nil
	})
	var warnings []string
	ctx := api.WithWarningSink(context.Background(), func(m string) { warnings = append(warnings, m) })
	if _, err := o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.Name != "default" {
		t.Fatalf("view.Get gave %v", seen)
	}
	if len(warnings) != 1 || warnings[0] != "careful" {
		t.Fatalf("warnings %q", warnings)
	}
}

func TestWatchWithFieldSelectorSendsObjectsEnteringAndLeavingIt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newTestObjects(t, "")
	sel, err := api.ParseFieldSelector(api.KindReplicaSet, "status.replicas=2")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := o.Watch(ctx, api.KindReplicaSet, "default", api.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(2), Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img:v1"}}}}}}
	created, err := o.Create(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	cur := created.(*api.ReplicaSet)
	for _, n := range []int32{1, 2, 3} {
		cur.Status.Replicas = n
		out, err := o.UpdateStatus(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		cur = out.(*api.ReplicaSet)
	}
	// replicas 0 and 1 do not match; 2 enters the selection, 3 leaves it.
	if ev := nextEvent(t, ch); ev.Type != api.Added || ev.Object.(*api.ReplicaSet).Status.Replicas != 2 {
		t.Fatalf("entering: %s %d", ev.Type, ev.Object.(*api.ReplicaSet).Status.Replicas)
	}
	if ev := nextEvent(t, ch); ev.Type != api.Deleted || ev.Object.(*api.ReplicaSet).Status.Replicas != 3 {
		t.Fatalf("leaving: %s %d", ev.Type, ev.Object.(*api.ReplicaSet).Status.Replicas)
	}
}
