package registry

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// A status written on one side of a partition for a pod deleted on the
// other, where no status record existed before (so the delete left no
// status tombstone): after the heal the status record is an orphan on both
// sides, and the collection deletes it everywhere, the same bytes.
func TestOrphanedStatusIsCollected(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}
	if _, err := rs[0].o.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	if _, err := rs[0].o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, _ := rs[1].o.Get(ctx, api.KindPod, "default", "p")
	pod := obj.(*api.Pod)
	pod.Status.Phase = api.PodRunning
	if _, err := rs[1].o.UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	const key = "s/pods/default/p"
	for _, r := range rs {
		if rec := r.st.Get(key); rec == nil || rec.Deleted {
			t.Fatalf("%s: the status record is %+v before the collection; the test needs an orphan", r.name, rec)
		}
		if _, err := r.o.Get(ctx, api.KindPod, "default", "p"); !api.IsNotFound(err) {
			t.Fatalf("%s: the deleted pod: %v", r.name, err)
		}
	}
	for _, r := range rs {
		n, err := r.o.CollectOrphanStatuses(ctx)
		if err != nil || n != 1 {
			t.Fatalf("%s: collected %d, %v; want 1", r.name, n, err)
		}
	}
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	for _, r := range rs {
		if rec := r.st.Get(key); rec == nil || !rec.Deleted {
			t.Fatalf("%s: the status record is %+v; want a tombstone", r.name, rec)
		}
		if n, _ := r.o.CollectOrphanStatuses(ctx); n != 0 {
			t.Fatalf("%s: a second collection deleted %d", r.name, n)
		}
	}
}

// What is not an orphan stays: the status of a live object, the status of
// a re-created object that arrives before its spec, and a status whose
// spec has not arrived yet (within OrphanGrace); past the grace, that one
// is collected.
func TestCollectionKeepsLiveAndEarlyStatuses(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	newPod := func() *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}
	}
	created, err := rs[0].o.Create(ctx, newPod())
	if err != nil {
		t.Fatal(err)
	}
	pod := created.(*api.Pod)
	pod.Status.Phase = api.PodRunning
	if _, err := rs[0].o.UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if n, _ := rs[0].o.CollectOrphanStatuses(ctx); n != 0 {
		t.Fatalf("collected %d statuses of a live pod", n)
	}
	exchange(t, rs[0], rs[1])
	// Deleted and created again on h1; h2 gets the new status before the
	// new spec.
	if _, err := rs[0].o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	send(t, rs[0], rs[1])
	again, err := rs[0].o.Create(ctx, newPod())
	if err != nil {
		t.Fatal(err)
	}
	pod = again.(*api.Pod)
	pod.Status.Phase = api.PodPending
	if _, err := rs[0].o.UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[1].st.Apply(ctx, []*gossip.Record{rs[0].st.Get("s/pods/default/p")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := rs[1].o.CollectOrphanStatuses(ctx); n != 0 {
		t.Fatalf("collected the status of a re-created pod whose spec has not arrived (%d)", n)
	}
	// A status alone, its spec never seen: kept within the grace, collected after.
	if _, err := rs[1].st.Apply(ctx, []*gossip.Record{rs[0].st.Get("o/pods/default/p")}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[0].o.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "q", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}); err != nil {
		t.Fatal(err)
	}
	q, _ := rs[0].o.Get(ctx, api.KindPod, "default", "q")
	q.(*api.Pod).Status.Phase = api.PodRunning
	if _, err := rs[0].o.UpdateStatus(ctx, q); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[1].st.Apply(ctx, []*gossip.Record{rs[0].st.Get("s/pods/default/q")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := rs[1].o.CollectOrphanStatuses(ctx); n != 0 {
		t.Fatalf("collected a status whose spec may still arrive (%d)", n)
	}
	rs[1].o.now = func() time.Time { return time.Now().Add(OrphanGrace + time.Minute) }
	if n, _ := rs[1].o.CollectOrphanStatuses(ctx); n != 1 {
		t.Fatalf("a status without a spec past the grace: collected %d, want 1", n)
	}
	if rec := rs[1].st.Get("s/pods/default/p"); rec == nil || rec.Deleted {
		t.Fatalf("the re-created pod's status: %+v", rec)
	}
}

// The collection reads the store while writes go on: it must never take
// the store's read lock twice (a writer waiting between the two would
// block both forever).
func TestCollectionRunsBesideWrites(t *testing.T) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := New(st)
	ctx := context.Background()
	if _, err := o.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}
		created, err := o.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		pod := created.(*api.Pod)
		pod.Status.Phase = api.PodRunning
		if _, err := o.UpdateStatus(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("c%d", i), Namespace: "default"}}
			if _, err := o.Create(ctx, cm); err != nil {
				t.Error(err)
				return
			}
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if _, err := o.CollectOrphanStatuses(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the collection is stuck beside the writes")
	}
	close(stop)
	wg.Wait()
}
