package runtime

import (
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

type podKey struct{ uid, ns, name string }

// podWorker owns one pod: it alone creates, restarts and removes the pod's
// containers and writes its status. Updates replace the pending one, except
// that a pending kill is never overwritten.
type podWorker struct {
	rt  *Runtime
	key podKey
	log *slog.Logger

	mu      sync.Mutex
	pod     *api.Pod // latest desired state (or last known, once deleted)
	deleted bool     // the pod is gone from this node: stop everything
	// revived is a state of the pod received after it was said to be gone
	// (a deletion undone by a merge after a partition, possibly with a
	// deletionTimestamp of its own): the worker still stops everything,
	// and a new worker takes this state once it has finished.
	revived *api.Pod
	// seq counts the updates that changed something; handled is the seq of
	// the state the worker last acted on. An update after the last state
	// the worker finished with goes to a new worker.
	seq, handled uint64
	wake         chan struct{}
	// died holds containers the engine said died. The engine's container
	// list can show such a container as running for a moment after the
	// event, so the worker looks again soon until the list agrees.
	died map[string]time.Time

	// Owned by the worker goroutine.
	inspected map[string]engine.State // container id -> last inspected state
	// wiredSandbox is the sandbox this worker connected to the pod network
	// (or found connected), with the address wiredIP.
	wiredSandbox string
	wiredIP      netip.Addr
	// solo: the pod runs without a sandbox (nil until the first sync
	// decides; see soloPod).
	solo *bool
	// unwiredFinished: the finished pod's address was given back.
	unwiredFinished bool
	backoff         map[string]*backoffEntry
	waiting         map[string]api.ContainerStateWaiting // container -> why it is not running
	lastStatus      []byte
	probes          *prober
	probeWG         sync.WaitGroup       // the probe goroutines
	pullFailed      map[string]time.Time // image -> last failed pull
	// saDir holds the pod's service-account files once written ("": the
	// pod mounts none); saRenew is when its token is written again.
	saDir    string
	saRenew  time.Time
	failures int       // engine or store calls failed in a row
	born     time.Time // when the worker started, for Observer.PodStarted
	// running: the pod has reached phase Running once under this worker;
	// its start steps are no longer observed.
	running bool
	// declared holds, by volume name, the host path of each claim bound
	// to a declared hostPath or local PersistentVolume.
	declared map[string]string
}

func newPodWorker(r *Runtime, key podKey) *podWorker {
	w := &podWorker{rt: r, key: key, born: time.Now(), log: r.log.With("pod", key.ns+"/"+key.name, "uid", key.uid),
		wake: make(chan struct{}, 1), died: map[string]time.Time{}, inspected: map[string]engine.State{}, backoff: map[string]*backoffEntry{},
		waiting: map[string]api.ContainerStateWaiting{}, pullFailed: map[string]time.Time{}}
	w.probes = newProber(w)
	return w
}

// update records the pod's new desired state; deleted marks it gone. A
// change of the status alone (the worker's own write coming back) needs no
// sync. Once the pod is gone, a later live state is kept aside (revived)
// for the worker that follows this one: this one only stops everything.
// Callers hold r.mu.
func (w *podWorker) update(p *api.Pod, deleted bool) {
	w.mu.Lock()
	if w.deleted {
		switch {
		case deleted:
			w.revived = nil
			if p != nil {
				w.pod = p
			}
		case p != nil:
			w.revived = p
		}
		w.mu.Unlock()
		return
	}
	changed := deleted || p != nil && (w.pod == nil || !sameDesired(w.pod, p))
	if p != nil {
		w.pod = p
	}
	w.deleted = deleted
	if changed {
		w.seq++
	}
	w.mu.Unlock()
	if changed {
		w.poke()
	}
}

// unfinished returns the state a new worker must take on once this one
// has finished: a revived pod, or a state that arrived after the one the
// worker finished with. Called under r.mu after run returned.
func (w *podWorker) unfinished() *api.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.revived != nil {
		return w.revived
	}
	if !w.deleted && w.seq != w.handled {
		return w.pod
	}
	return nil
}

// sameDesired reports whether two versions of a pod ask for the same thing.
func sameDesired(a, b *api.Pod) bool {
	return a.UID == b.UID && a.Generation == b.Generation && reflect.DeepEqual(a.Spec, b.Spec) &&
		reflect.DeepEqual(a.DeletionTimestamp, b.DeletionTimestamp) &&
		reflect.DeepEqual(a.Labels, b.Labels) && reflect.DeepEqual(a.Annotations, b.Annotations)
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) containerEvent(ev engine.Event) {
	if ev.Action == "die" || ev.Action == "oom" {
		w.mu.Lock()
		w.died[ev.ContainerID] = time.Now()
		w.mu.Unlock()
	}
	// Only what the worker did not do itself matters: deaths and removals.
	switch {
	case ev.Action == "die", ev.Action == "oom", ev.Action == "destroy", strings.HasPrefix(ev.Action, "health_status"):
		w.poke()
	}
}

// diedButListedRunning reports whether a container the engine said died is
// still listed as running, and forgets deaths the list has caught up with.
func (w *podWorker) diedButListedRunning(pc podContainers) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.died) == 0 {
		return false
	}
	stale := false
	running := map[string]bool{}
	for _, l := range pc {
		for _, in := range l {
			if in.State == "running" {
				running[in.ID] = true
			}
		}
	}
	for id, at := range w.died {
		if running[id] && time.Since(at) < 5*time.Second {
			stale = true
			continue
		}
		delete(w.died, id)
	}
	return stale
}

func (w *podWorker) snapshot() (*api.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.deleted
}

// take returns the state to act on and marks it handled.
func (w *podWorker) take() (*api.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handled = w.seq
	return w.pod, w.deleted
}

// run syncs the pod whenever something changes or a timer it set fires,
// until the pod's containers are all gone after a kill, or ctx ends (the
// agent stops: containers stay as they are).
func (w *podWorker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer w.probeWG.Wait()
	defer w.probes.stop(nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		pod, deleted := w.take()
		var next time.Duration
		if deleted || pod == nil || pod.DeletionTimestamp != nil {
			done, retry := w.terminate(ctx, pod, deleted)
			if done {
				return
			}
			next = retry
		} else {
			next = w.sync(ctx, pod)
		}
		if next <= 0 || next > w.rt.cfg.ResyncPeriod {
			next = w.rt.cfg.ResyncPeriod
		}
		timer.Reset(next)
	}
}

// failed notes a failed engine (or store) call of a sync or a termination
// and returns when to try again: 1 s, doubling up to the resync period.
// The first failure of a streak is logged as a warning and, when the pod
// is known, recorded as a FailedSync Event on it; the following ones are
// logged at debug level, until a call succeeds again (succeeded).
func (w *podWorker) failed(pod *api.Pod, what string, err error) time.Duration {
	w.failures++
	if w.failures == 1 {
		w.log.Warn(what+" failed; trying again with back-off", "err", err)
		if pod != nil {
			w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailedSync, "%s failed: %v", what, err)
		}
	} else {
		w.log.Debug(what+" failed again", "failures", w.failures, "err", err)
	}
	return min(time.Second<<min(w.failures-1, 10), w.rt.cfg.ResyncPeriod)
}

// step reports one step of the pod's first start, begun at since, to the
// observer.
func (w *podWorker) step(name string, since time.Time) {
	if o := w.rt.cfg.Observer; o != nil && !w.running {
		o.PodStartStep(name, time.Since(since))
	}
}

// succeeded ends a streak of failures.
func (w *podWorker) succeeded() {
	if w.failures > 0 {
		w.log.Info("engine calls succeed again", "after_failures", w.failures)
		w.failures = 0
	}
}
