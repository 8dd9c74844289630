package runtime

// The runner with an engine that hangs or fails, and with a store whose
// events arrive late, undone or not at all.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

func (f *fixture) waitRunning(name string) *api.Pod {
	f.t.Helper()
	var p *api.Pod
	poll.Until(f.t, 10*time.Second, name+" running", func() error {
		p = f.pod(name)
		if p == nil || p.Status.Phase != api.PodRunning || len(f.containers(p.UID, true)) != 2 {
			return fmt.Errorf("not running yet")
		}
		return nil
	})
	return p
}

// A hung engine holds the engine calls of the housekeeper and of the
// workers, never the event loop: a new pod still gets its worker at once,
// a deletion reaches its pod's worker at once, and both are carried out
// once the engine answers.
func TestPodEventsAreHandledWhileTheEngineHangs(t *testing.T) {
	f := newFixture(t)
	old := f.createPod("old", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	f.waitRunning("old")
	f.eng.SetHung(true)
	before := f.eng.CallCount("ListContainers")
	// A few resyncs: the orphan collection and the old pod's worker are now
	// waiting for the engine.
	poll.Cond(t, 10*time.Second, "engine calls waiting", func() bool { return f.eng.CallCount("ListContainers") >= before+2 })
	fresh := f.createPod("new", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 10*time.Second, "the new pod has its worker while the engine hangs", func() error {
		if n := f.rt.PodCount(); n != 2 {
			return fmt.Errorf("%d workers", n)
		}
		return nil
	})
	// A deletion reaches the old pod's worker, itself waiting for the
	// engine, as soon as it is made.
	if _, err := f.objs.Delete(context.Background(), api.KindPod, "default", "old", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "the old pod's worker told of its deletion while the engine hangs", func() bool {
		f.rt.mu.Lock()
		w := f.rt.workers[old.UID]
		f.rt.mu.Unlock()
		if w == nil {
			return false
		}
		_, deleted := w.snapshot()
		return deleted
	})
	f.eng.SetHung(false)
	f.waitRunning("new")
	if len(f.containers(fresh.UID, true)) != 2 {
		t.Fatal("the new pod's containers missing after the engine answered again")
	}
	poll.Until(t, 10*time.Second, "the deleted pod's containers stopped", func() error {
		if n := len(f.containers(old.UID, true)); n != 0 {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
}

// A pod whose containers cannot be stopped stays (Terminating) and says
// why; it goes once they stop.
func TestDeletedPodStaysWhileItsContainersCannotBeStopped(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	f.waitRunning("web")
	f.eng.SetFailing("StopContainer", errors.New("the engine is stuck"))
	if _, err := f.objs.Delete(context.Background(), api.KindPod, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "a FailedSync event", func() bool { return f.rec.count(ReasonFailedSync) > 0 })
	// The grace period (1 s) is over, the stop keeps failing.
	time.Sleep(1500 * time.Millisecond)
	if f.pod("web") == nil {
		t.Fatal("the pod was removed while its container could not be stopped")
	}
	if n := len(f.containers(p.UID, true)); n != 2 {
		t.Fatalf("%d containers run, want 2", n)
	}
	f.eng.SetFailing("StopContainer", nil)
	poll.Until(t, 10*time.Second, "pod removed once the stop works", func() error {
		if f.pod("web") != nil {
			return fmt.Errorf("still stored")
		}
		if n := len(f.containers(p.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// The sandbox of a finished pod is stopped; a failure to stop it is
// reported and tried again.
func TestFinishedPodSandboxStopIsRetried(t *testing.T) {
	f := newFixture(t)
	f.eng.SetImageScript("app:1", enginetest.Script{ExitCode: 0, RunFor: 30 * time.Millisecond})
	f.eng.SetFailing("StopContainer", errors.New("the engine is stuck"))
	p := f.createPod("job", api.RestartNever, api.Container{Name: "app", Image: "app:1"})
	poll.Cond(t, 10*time.Second, "a FailedSync event", func() bool { return f.rec.count(ReasonFailedSync) > 0 })
	sandboxRunning := func() bool {
		for _, c := range f.containers(p.UID, true) {
			if c.Labels[engine.LabelContainer] == engine.SandboxContainerName {
				return true
			}
		}
		return false
	}
	if !sandboxRunning() {
		t.Fatal("the sandbox stopped although every stop failed")
	}
	f.eng.SetFailing("StopContainer", nil)
	poll.Cond(t, 10*time.Second, "the sandbox stopped", func() bool { return !sandboxRunning() })
}

// A removal that fails is tried again by the reaper, without waiting for
// the orphan collection.
func TestReaperRetriesAFailedRemoval(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture) { f.cfg.ResyncPeriod = time.Minute })
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	f.waitRunning("web")
	f.eng.SetFailing("RemoveContainer", errors.New("device busy"))
	if _, err := f.objs.Delete(context.Background(), api.KindPod, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "a removal tried", func() bool { return f.eng.CallCount("RemoveContainer") > 0 })
	f.eng.SetFailing("RemoveContainer", nil)
	poll.Until(t, 10*time.Second, "containers removed by a retry", func() error {
		if n := len(f.containers(p.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// After an engine outage (a restarted engine stopped every container), the
// runner told of the recovery restarts the pod at once, one of each
// container: it does not wait for its resync, and starts nothing twice.
func TestEngineRecoveryRestartsStoppedPodsOnce(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture) { f.cfg.ResyncPeriod = time.Minute })
	p := f.waitRunningAfter(f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"}))
	f.eng.SetUnavailable(true)
	for _, c := range f.containers(p.UID, true) {
		if err := f.eng.Kill(c.ID, 137); err != nil {
			t.Fatal(err)
		}
	}
	f.eng.SetUnavailable(false)
	f.rt.EngineRecovered()
	poll.Until(t, 10*time.Second, "one sandbox and one app running again", func() error {
		running := map[string]int{}
		for _, c := range f.containers(p.UID, true) {
			running[c.Labels[engine.LabelContainer]]++
		}
		if running[engine.SandboxContainerName] != 1 || running["app"] != 1 || len(running) != 2 {
			return fmt.Errorf("running %v", running)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if n := len(f.containers(p.UID, true)); n != 2 {
		t.Fatalf("%d containers running, want 2", n)
	}
}

func (f *fixture) waitRunningAfter(p *api.Pod) *api.Pod {
	f.t.Helper()
	f.waitRunning(p.Name)
	return p
}

// The stuck Terminating pod: after a partition, a pod deleted on one side
// (a tombstone) is marked for deletion on the other, later; the heal brings
// the marked record back over the tombstone while this node's worker is
// still stopping the pod for the deletion. The worker must not drop the
// newer state: the pod, marked for deletion with no container left, is
// removed within seconds.
func TestPodRevivedForDeletionWhileTerminatingIsRemoved(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture) { f.cfg.ResyncPeriod = time.Minute })
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	f.waitRunning("web")
	ctx := context.Background()
	st1 := f.objs.Store()
	key := "o/pods/default/web"

	// The other side of the partition: another agent with the pod's record.
	st2, err := gossip.Open("", "n2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.Apply(ctx, []*gossip.Record{st1.Get(key)}); err != nil {
		t.Fatal(err)
	}

	// This side deletes the pod at once (an eviction): the worker begins
	// to stop it, and the engine is slow to answer.
	f.eng.SetHung(true)
	if _, err := f.objs.Delete(ctx, api.KindPod, "default", "web", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	tomb := st1.Get(key)
	if tomb == nil || !tomb.Deleted {
		t.Fatalf("no tombstone: %+v", tomb)
	}
	// The other side marks it for deletion, later than the tombstone.
	st2.Clock().Observe(tomb.Version.Time)
	if _, err := registry.New(st2).Delete(ctx, api.KindPod, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	marked := st2.Get(key)
	if marked.Deleted || !marked.Newer(tomb) {
		t.Fatalf("the other side's record does not win: %+v", marked)
	}
	// The heal: the marked record comes back over the tombstone. The
	// registry's merge lets a delete win over what the same incarnation
	// wrote elsewhere; under plain last-writer-wins (no merger) the record
	// does come back, and the worker must cope with that too.
	st1.SetMerger(nil)
	if applied, err := st1.Apply(ctx, []*gossip.Record{marked}); err != nil || len(applied) != 1 {
		t.Fatalf("apply: %v (%d applied)", err, len(applied))
	}
	if got := f.pod("web"); got == nil || got.DeletionTimestamp == nil {
		t.Fatalf("the pod is not back, marked for deletion: %+v", got)
	}
	time.Sleep(200 * time.Millisecond) // the runner sees it while its worker waits
	f.eng.SetHung(false)
	poll.Until(t, 5*time.Second, "the revived pod removed, nothing left", func() error {
		if got := f.pod("web"); got != nil {
			return fmt.Errorf("pod %s still stored (deletionTimestamp %v)", got.Name, got.DeletionTimestamp)
		}
		if n := len(f.containers(p.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// deafStore hides the watch events of some pods from the runner, as a
// watch that missed them would.
type deafStore struct {
	*registry.Registry
	deaf func(name string) bool
}

func (d *deafStore) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	in, err := d.Registry.Watch(ctx, k, ns, opts)
	if err != nil || k != api.KindPod {
		return in, err
	}
	out := make(chan api.WatchEvent)
	go func() {
		defer close(out)
		for ev := range in {
			if m := ev.Object.GetObjectMeta(); m != nil && d.deaf(m.Name) {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Events the watch never delivered are made up for by the resync: a pod
// nobody told the runner about runs, and its deletion, also never told,
// stops it and removes it.
func TestResyncCatchesMissedPodEvents(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture) {
		f.store = &deafStore{Registry: f.objs, deaf: func(name string) bool { return strings.HasPrefix(name, "ghost") }}
	})
	p := f.createPod("ghost", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	f.waitRunning("ghost")
	if _, err := f.objs.Delete(context.Background(), api.KindPod, "default", "ghost", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the unannounced deletion done", func() error {
		if f.pod("ghost") != nil {
			return fmt.Errorf("still stored")
		}
		if n := len(f.containers(p.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
	// Removed from the store without the runner's doing (a grace of 0, as
	// an eviction): the resync stops what still runs.
	q := f.createPod("ghost2", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	f.waitRunning("ghost2")
	if _, err := f.objs.Delete(context.Background(), api.KindPod, "default", "ghost2", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the containers of the silently removed pod stopped", func() error {
		if n := len(f.containers(q.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// A pod written a moment ago is taken for one whose event is on its way;
// one written long ago, or whose version cannot be read, for a missed event.
func TestWrittenWithinReadsTheVersionTime(t *testing.T) {
	recent := gossip.NewClock().Now()
	old := gossip.TimestampOf(time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		rv   string
		want bool
	}{
		{fmt.Sprint(recent), true},
		{fmt.Sprintf("%d.1a2b", recent), true},
		{fmt.Sprint(old), false},
		{"", false},
		{"not-a-version", false},
	} {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{ResourceVersion: tc.rv}}
		if got := writtenWithin(p, eventDelay); got != tc.want {
			t.Errorf("writtenWithin(rv %q) = %v, want %v", tc.rv, got, tc.want)
		}
	}
}
