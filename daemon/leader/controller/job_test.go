package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
)

// jobOptions are fast timings, with a back-off short enough for tests but
// long enough to measure.
func jobOptions() Options {
	o := fastOptions()
	o.FailedPodBackoff = 40 * time.Millisecond
	o.FailedPodBackoffMax = time.Second
	return o
}

func newJob(name string, completions, parallelism *int32, restartPolicy string) *api.Job {
	t := podTemplate(name, "img:v1")
	t.Spec.RestartPolicy = restartPolicy
	return &api.Job{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       api.JobSpec{Completions: completions, Parallelism: parallelism, Template: t},
	}
}

func getJob(t *testing.T, store testStore, name string) *api.Job {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindJob, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Job)
}

func updateJob(t *testing.T, store testStore, name string, change func(*api.Job)) {
	t.Helper()
	for range 20 {
		j := getJob(t, store, name)
		change(j)
		if _, err := store.Update(context.Background(), j); err == nil {
			return
		} else if !api.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}

func jobPods(t *testing.T, store testStore, job string) []*api.Pod {
	t.Helper()
	return listPods(t, store, api.SelectorFromSet(map[string]string{api.LabelJobName: job}))
}

func countPhase(pods []*api.Pod, phase string) int {
	n := 0
	for _, p := range pods {
		if p.Status.Phase == phase {
			n++
		}
	}
	return n
}

func condition(conds []api.Condition, typ string) *api.Condition {
	return api.FindCondition(conds, typ)
}

func conditionTrue(conds []api.Condition, typ string) bool {
	c := condition(conds, typ)
	return c != nil && c.Status == api.ConditionTrue
}

// terminatedStatus is what a node reports for a pod whose one container
// exited with code.
func terminatedStatus(code int32) api.PodStatus {
	phase := api.PodSucceeded
	if code != 0 {
		phase = api.PodFailed
	}
	return api.PodStatus{Phase: phase,
		Conditions: []api.Condition{{Type: api.PodReady, Status: api.ConditionFalse, LastTransitionTime: api.Now()}},
		ContainerStatuses: []api.ContainerStatus{{Name: "app",
			State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code}}}}}
}

// jobNode plays the node for Job pods: it binds every new pod to node1 and
// reports it Running and ready; then, on every step, outcome says what a
// running pod's container exits with (-1: it keeps running). A pod being
// deleted is first reported Failed, as a node that killed it may, then
// removed.
type jobNode struct {
	store   testStore
	outcome func(p *api.Pod, ranFor time.Duration) int32

	mu      sync.Mutex
	started map[string]time.Time
	failed  map[string]time.Time // pod name -> when it was reported Failed by an exit
}

func startJobNode(t *testing.T, store testStore, outcome func(p *api.Pod, ranFor time.Duration) int32) *jobNode {
	t.Helper()
	n := &jobNode{store: store, outcome: outcome, started: map[string]time.Time{}, failed: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			n.step(ctx)
			sleep(ctx, 5*time.Millisecond)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return n
}

func (n *jobNode) step(ctx context.Context) {
	objs, _, err := n.store.List(ctx, api.KindPod, "", nil)
	if err != nil {
		return
	}
	now := time.Now()
	for _, o := range objs {
		p := o.(*api.Pod)
		switch {
		case p.DeletionTimestamp != nil && p.Status.Phase != api.PodFailed && p.Status.Phase != api.PodSucceeded:
			p.Status = terminatedStatus(137)
			_, _ = n.store.UpdateStatus(ctx, p)
		case p.DeletionTimestamp != nil:
			_, _ = n.store.Delete(ctx, api.KindPod, p.Namespace, p.Name, api.DeleteOptions{GracePeriodSeconds: api.Int64(0), UID: p.UID})
		case p.Spec.NodeName == "":
			p.Spec.NodeName = "node1"
			_, _ = n.store.Update(ctx, p) // a conflict is retried on the next step
		case api.IsPodTerminal(p):
		case p.Status.Phase == "":
			n.mu.Lock()
			n.started[p.UID] = now
			n.mu.Unlock()
			p.Status = runningStatus(api.PodRunning, true, 0, now)
			_, _ = n.store.UpdateStatus(ctx, p)
		default:
			n.finish(ctx, p, now)
		}
	}
}

func (n *jobNode) finish(ctx context.Context, p *api.Pod, now time.Time) {
	n.mu.Lock()
	since := n.started[p.UID]
	n.mu.Unlock()
	code := n.outcome(p, now.Sub(since))
	if code < 0 {
		return
	}
	p.Status = terminatedStatus(code)
	if _, err := n.store.UpdateStatus(ctx, p); err == nil && code != 0 {
		n.mu.Lock()
		n.failed[p.Name] = now
		n.mu.Unlock()
	}
}

func (n *jobNode) failedAt(name string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.failed[name]
	return at, ok
}

func succeedAfter(d time.Duration) func(*api.Pod, time.Duration) int32 {
	return func(_ *api.Pod, ranFor time.Duration) int32 {
		if ranFor >= d {
			return 0
		}
		return -1
	}
}

func keepRunning(*api.Pod, time.Duration) int32 { return -1 }

// holdsFor checks cond over d, failing at the first moment it does not hold.
func holdsFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, seen := cond(); !ok {
			t.Fatalf("%s stopped holding; saw: %s", what, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitJobCondition(t *testing.T, store testStore, name, typ string) *api.Job {
	t.Helper()
	var j *api.Job
	poll.True(t, 10*time.Second, "job condition "+typ, func() (bool, string) {
		j = getJob(t, store, name)
		return conditionTrue(j.Status.Conditions, typ), describePods(jobPods(t, store, name))
	})
	return j
}

func TestJobRunsCompletionsWithinParallelism(t *testing.T) {
	store := newTestStore(t)
	sel := api.SelectorFromSet(map[string]string{api.LabelJobName: "pi"})
	peak := maxActiveWatcher(t, store, sel)
	opts := jobOptions()
	opts.ResyncPeriod = 5 * time.Millisecond // syncs as often as it can
	// A lagging pod watch tests the expectations: a sync must not trust a
	// list that does not show the pods it created yet.
	rec := startManager(t, &slowWatchStore{testStore: store, delay: 5 * time.Millisecond}, opts)
	startJobNode(t, store, succeedAfter(30*time.Millisecond))

	job := mustCreate(t, store, newJob("pi", api.Int32(5), api.Int32(2), api.RestartNever)).(*api.Job)
	j := waitJobCondition(t, store, "pi", api.JobComplete)
	if j.Status.Succeeded != 5 || j.Status.Active != 0 || j.Status.Failed != 0 || j.Status.CompletionTime == nil ||
		j.Status.StartTime == nil || j.Status.Ready == nil || *j.Status.Ready != 0 {
		t.Fatalf("status of the completed job: %+v", j.Status)
	}
	holdsFor(t, 200*time.Millisecond, "exactly 5 pods, all succeeded", func() (bool, string) {
		pods := jobPods(t, store, "pi")
		return len(pods) == 5 && countPhase(pods, api.PodSucceeded) == 5, describePods(pods)
	})
	if p := peak.Load(); p != 2 {
		t.Fatalf("at some moment %d pods were active for parallelism 2", p)
	}
	for _, p := range jobPods(t, store, "pi") {
		ref := p.ControllerRef()
		if p.GenerateName != "pi-" || ref == nil || ref.UID != job.UID || ref.Kind != "Job" ||
			p.Labels[api.LabelControllerUID] != job.UID || p.Spec.RestartPolicy != api.RestartNever {
			t.Fatalf("pod not made from the template and owned by the job: %+v", p.ObjectMeta)
		}
	}
	if n := len(rec.Find(ReasonSuccessfulCreate)); n != 5 {
		t.Fatalf("%d SuccessfulCreate events, want 5", n)
	}
	if n := len(rec.Find(ReasonCompleted)); n != 1 {
		t.Fatalf("%d Completed events, want 1", n)
	}
}

func TestJobStopsAtBackoffLimit(t *testing.T) {
	store := newTestStore(t)
	rec := startManager(t, store, noResync(jobOptions()))
	node := startJobNode(t, store, func(*api.Pod, time.Duration) int32 { return 1 })

	// Record when each pod appears, to measure the back-off.
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	appeared := map[string]time.Time{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			name := ev.Object.GetObjectMeta().Name
			mu.Lock()
			if _, ok := appeared[name]; !ok && ev.Type == api.Added {
				appeared[name] = time.Now()
				order = append(order, name)
			}
			mu.Unlock()
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	job := newJob("flaky", nil, nil, api.RestartNever)
	job.Spec.BackoffLimit = api.Int32(2)
	mustCreate(t, store, job)
	j := waitJobCondition(t, store, "flaky", api.JobFailed)
	c := condition(j.Status.Conditions, api.JobFailed)
	if c.Reason != api.JobReasonBackoffLimitExceeded || c.Message != "Job has reached the specified backoff limit" {
		t.Fatalf("failed condition: %+v", c)
	}
	if j.Status.Failed != 3 || j.Status.Active != 0 || j.Status.Succeeded != 0 || j.Status.CompletionTime != nil {
		t.Fatalf("status of the failed job: %+v", j.Status)
	}
	holdsFor(t, 200*time.Millisecond, "exactly backoffLimit+1 pods", func() (bool, string) {
		pods := jobPods(t, store, "flaky")
		return len(pods) == 3 && countPhase(pods, api.PodFailed) == 3, describePods(pods)
	})
	if n := len(rec.Find(api.JobReasonBackoffLimitExceeded)); n != 1 {
		t.Fatalf("%d BackoffLimitExceeded events, want 1", n)
	}
	// Each replacement waited its back-off after the failure before it:
	// 40 ms, then 80 ms.
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 3 {
		t.Fatalf("pods appeared: %v", order)
	}
	for i, want := range []time.Duration{40 * time.Millisecond, 80 * time.Millisecond} {
		failed, ok := node.failedAt(order[i])
		if !ok {
			t.Fatalf("pod %s was never failed by the node", order[i])
		}
		if gap := appeared[order[i+1]].Sub(failed); gap < want {
			t.Fatalf("pod %d was created %v after the failure before it, want at least %v", i+2, gap, want)
		}
	}
}

// noResync leaves timed requeues as the only way a quiet object is synced.
func noResync(o Options) Options {
	o.ResyncPeriod = time.Hour
	return o
}

func TestJobActiveDeadline(t *testing.T) {
	store := newTestStore(t)
	rec := startManager(t, store, noResync(jobOptions()))
	startJobNode(t, store, keepRunning)
	job := newJob("slow", api.Int32(4), api.Int32(2), api.RestartNever)
	job.Spec.ActiveDeadlineSeconds = api.Int64(2)
	created := time.Now()
	mustCreate(t, store, job)
	poll.True(t, 5*time.Second, "2 ready pods", func() (bool, string) {
		j := getJob(t, store, "slow")
		return j.Status.Ready != nil && *j.Status.Ready == 2 && j.Status.Active == 2, ""
	})
	j := waitJobCondition(t, store, "slow", api.JobFailed)
	// The start time is kept to the second, so the deadline of 2s falls
	// between 1s and 2s after the start; the resync at the deadline must
	// act on it at once.
	if d := time.Since(created); d < time.Second || d > 2500*time.Millisecond {
		t.Fatalf("the deadline of 2s was acted on %v after the job was created", d)
	}
	c := condition(j.Status.Conditions, api.JobFailed)
	if c.Reason != api.JobReasonDeadlineExceeded || c.Message != "Job was active longer than specified deadline" {
		t.Fatalf("failed condition: %+v", c)
	}
	if j.Status.Active != 0 || j.Status.Failed != 2 {
		t.Fatalf("status: %+v, want the 2 active pods counted as failed", j.Status)
	}
	poll.True(t, 5*time.Second, "the active pods deleted", func() (bool, string) {
		pods := jobPods(t, store, "slow")
		return len(pods) == 0, describePods(pods)
	})
	if n := len(rec.Find(api.JobReasonDeadlineExceeded)); n != 1 {
		t.Fatalf("%d DeadlineExceeded events, want 1", n)
	}
	if n := len(rec.Find(ReasonSuccessfulDelete)); n != 2 {
		t.Fatalf("%d SuccessfulDelete events, want 2", n)
	}
}

func TestJobCountsRestartsWithOnFailure(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	startJobNode(t, store, keepRunning)
	job := newJob("retry", nil, nil, api.RestartOnFailure)
	job.Spec.BackoffLimit = api.Int32(3)
	mustCreate(t, store, job)
	var pod *api.Pod
	poll.True(t, 5*time.Second, "a ready pod", func() (bool, string) {
		pods := jobPods(t, store, "retry")
		if len(pods) != 1 || !api.IsPodReady(pods[0]) {
			return false, describePods(pods)
		}
		pod = pods[0]
		return true, ""
	})
	// The job's status must have caught up with the ready pod first: an
	// older status (no pod ready yet) would satisfy the wait below.
	poll.True(t, 10*time.Second, "the job to see the pod ready", func() (bool, string) {
		j := getJob(t, store, "retry")
		return j.Status.Ready != nil && *j.Status.Ready == 1 && j.Status.Active == 1, fmt.Sprintf("%+v", j.Status)
	})
	// Two restarts, and the pod not ready: below the limit, the Job runs on.
	setPodStatus(t, store, pod, api.PodRunning, false, 2)
	poll.True(t, 5*time.Second, "the job to see the pod unready", func() (bool, string) {
		j := getJob(t, store, "retry")
		return j.Status.Ready != nil && *j.Status.Ready == 0, ""
	})
	if j := getJob(t, store, "retry"); api.IsJobFinished(j) || j.Status.Active != 1 {
		t.Fatalf("job after 2 restarts of 3 allowed: %+v", j.Status)
	}
	setPodStatus(t, store, pod, api.PodRunning, true, 3)
	j := waitJobCondition(t, store, "retry", api.JobFailed)
	if c := condition(j.Status.Conditions, api.JobFailed); c.Reason != api.JobReasonBackoffLimitExceeded {
		t.Fatalf("failed condition: %+v", c)
	}
	poll.True(t, 5*time.Second, "the restarting pod deleted", func() (bool, string) {
		pods := jobPods(t, store, "retry")
		return len(pods) == 0, describePods(pods)
	})
	if n := len(listPods(t, store, nil)); n != 0 {
		t.Fatalf("%d pods left; no replacement may be made for OnFailure restarts", n)
	}
}

func TestJobTTLDeletesFinishedJobAndItsPods(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	startJobNode(t, store, succeedAfter(0))
	short := newJob("short", nil, nil, api.RestartNever)
	short.Spec.TTLSecondsAfterFinished = api.Int32(1)
	mustCreate(t, store, short)
	mustCreate(t, store, newJob("kept", nil, nil, api.RestartNever))
	j := waitJobCondition(t, store, "short", api.JobComplete)
	if len(jobPods(t, store, "short")) != 1 {
		t.Fatal("the completed job's pod is not there")
	}
	poll.True(t, 5*time.Second, "the job deleted after its ttl", func() (bool, string) {
		return !exists(t, store, api.KindJob, "short"), ""
	})
	if since := time.Since(j.Status.CompletionTime.Time); since < time.Second {
		t.Fatalf("deleted %v after the completion time, before the ttl of 1s", since)
	}
	poll.True(t, 5*time.Second, "its pod collected", func() (bool, string) {
		return len(jobPods(t, store, "short")) == 0, ""
	})
	waitJobCondition(t, store, "kept", api.JobComplete)
	holdsFor(t, 300*time.Millisecond, "a job without ttl kept", func() (bool, string) {
		return exists(t, store, api.KindJob, "kept"), ""
	})
}

func TestJobSuspendAndResume(t *testing.T) {
	store := newTestStore(t)
	rec := startManager(t, store, noResync(jobOptions()))
	startJobNode(t, store, keepRunning)
	job := newJob("later", api.Int32(3), api.Int32(2), api.RestartNever)
	job.Spec.Suspend = api.Bool(true)
	mustCreate(t, store, job)
	poll.True(t, 5*time.Second, "the Suspended condition", func() (bool, string) {
		return conditionTrue(getJob(t, store, "later").Status.Conditions, JobSuspended), ""
	})
	if j := getJob(t, store, "later"); j.Status.StartTime != nil || len(jobPods(t, store, "later")) != 0 {
		t.Fatalf("a suspended job started: %+v", j.Status)
	}

	updateJob(t, store, "later", func(j *api.Job) { j.Spec.Suspend = api.Bool(false) })
	poll.True(t, 5*time.Second, "2 running pods", func() (bool, string) {
		j := getJob(t, store, "later")
		return j.Status.Active == 2 && *j.Status.Ready == 2, describePods(jobPods(t, store, "later"))
	})
	j := getJob(t, store, "later")
	if c := condition(j.Status.Conditions, JobSuspended); c == nil || c.Status != api.ConditionFalse || c.Reason != ReasonJobResumed || j.Status.StartTime == nil {
		t.Fatalf("status of the resumed job: %+v", j.Status)
	}

	// Suspended again: its pods are deleted, and their end, even reported
	// as Failed by the node, is not a failure of the Job.
	updateJob(t, store, "later", func(j *api.Job) { j.Spec.Suspend = api.Bool(true) })
	poll.True(t, 5*time.Second, "the pods gone", func() (bool, string) {
		pods := jobPods(t, store, "later")
		return len(pods) == 0, describePods(pods)
	})
	holdsFor(t, 200*time.Millisecond, "suspended with no pods and no failures", func() (bool, string) {
		j := getJob(t, store, "later")
		return len(jobPods(t, store, "later")) == 0 && j.Status.Failed == 0 && j.Status.Active == 0 &&
			conditionTrue(j.Status.Conditions, JobSuspended), ""
	})
	if n := len(rec.Find(ReasonSuspended)); n != 2 {
		t.Fatalf("%d Suspended events, want 2", n)
	}
	if n := len(rec.Find(ReasonResumed)); n != 1 {
		t.Fatalf("%d Resumed events, want 1", n)
	}
}

func TestJobWorkQueueCompletesWhenOneSucceedsAndNoneRuns(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	var mu sync.Mutex
	done := map[string]bool{}
	startJobNode(t, store, func(p *api.Pod, _ time.Duration) int32 {
		mu.Lock()
		defer mu.Unlock()
		if done[p.Name] {
			return 0
		}
		return -1
	})
	mustCreate(t, store, newJob("queue", nil, api.Int32(3), api.RestartNever))
	var pods []*api.Pod
	poll.True(t, 5*time.Second, "3 running pods", func() (bool, string) {
		pods = activePods(jobPods(t, store, "queue"))
		return len(pods) == 3 && getJob(t, store, "queue").Status.Active == 3, describePods(pods)
	})
	mu.Lock()
	done[pods[0].Name] = true
	mu.Unlock()
	poll.True(t, 5*time.Second, "the job to see a success", func() (bool, string) {
		return getJob(t, store, "queue").Status.Succeeded == 1, ""
	})
	holdsFor(t, 200*time.Millisecond, "no new pod after a success, not complete while pods run", func() (bool, string) {
		all := jobPods(t, store, "queue")
		return len(all) == 3 && !api.IsJobFinished(getJob(t, store, "queue")), describePods(all)
	})
	mu.Lock()
	done[pods[1].Name], done[pods[2].Name] = true, true
	mu.Unlock()
	j := waitJobCondition(t, store, "queue", api.JobComplete)
	if j.Status.Succeeded != 3 || len(jobPods(t, store, "queue")) != 3 {
		t.Fatalf("status: %+v", j.Status)
	}
}

func TestJobAdoptsMatchingOrphans(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, noResync(jobOptions()))
	orphan := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "stray", Namespace: "default", Labels: map[string]string{"app": "batch"}},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img:v1"}}, RestartPolicy: api.RestartNever},
	}
	mustCreate(t, store, orphan)
	job := newJob("batch", nil, nil, api.RestartNever)
	job.Spec.ManualSelector = api.Bool(true)
	job.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "batch"}}
	created := mustCreate(t, store, job).(*api.Job)
	poll.True(t, 5*time.Second, "the orphan adopted and counted active", func() (bool, string) {
		pods := listPods(t, store, nil)
		return len(pods) == 1 && isControlledBy(pods[0], created.UID) && getJob(t, store, "batch").Status.Active == 1, describePods(pods)
	})
	holdsFor(t, 200*time.Millisecond, "no pod beyond the adopted one", func() (bool, string) {
		return len(listPods(t, store, nil)) == 1 && getJob(t, store, "batch").Status.Active == 1, ""
	})
}

func TestFailureBackoffDoublesUpToMax(t *testing.T) {
	b := newFailureBackoff(10*time.Second, 35*time.Second)
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		failures int32
		at       time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second}, // the same failure: the wait runs on
		{2, 10 * time.Second, 20 * time.Second},
		{3, 10 * time.Second, 35 * time.Second}, // 40 s capped
		{9, 0, 35 * time.Second},
	} {
		if got := b.observe("ns/j", tc.failures, t0.Add(tc.at)); got != tc.want {
			t.Fatalf("observe(%d failures at +%v) = %v, want %v", tc.failures, tc.at, got, tc.want)
		}
	}
	b.forget("ns/j")
	if got := b.step("ns/ds/node1", t0); got != 0 {
		t.Fatalf("first step waits %v", got)
	}
	if got := b.step("ns/ds/node1", t0.Add(3*time.Second)); got != 7*time.Second {
		t.Fatalf("second step within the first delay waits %v, want 7s", got)
	}
	if got := b.step("ns/ds/node1", t0.Add(10*time.Second)); got != 0 {
		t.Fatalf("step after the delay waits %v", got)
	}
	if got := b.step("ns/ds/node1", t0.Add(15*time.Second)); got != 15*time.Second {
		t.Fatalf("step after two failures waits %v, want 15s", got)
	}
	b.forget("ns/ds")
	if got := b.step("ns/ds/node1", t0.Add(15*time.Second)); got != 0 {
		t.Fatalf("step after forget waits %v", got)
	}
}

func TestJobExpectationsStopDuplicatesFromAStaleList(t *testing.T) {
	store := newTestStore(t)
	ctx := t.Context()
	c := newJobController(ctx, store, staleCache(t, store, newJob("pi", api.Int32(5), api.Int32(2), api.RestartNever)),
		events.NopRecorder{}, testLogger(t), jobOptions().withDefaults())
	// The list never shows the pods created; the expectations must hold
	// the line at parallelism.
	for range 4 {
		if err := c.sync(ctx, "default/pi"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(listPods(t, store, nil)); n != 2 {
		t.Fatalf("%d pods after repeated syncs over a stale list, want 2", n)
	}
	for _, p := range listPods(t, store, nil) {
		c.onPod(ctx, api.WatchEvent{Type: api.Added, Object: p})
	}
	if !c.exp.satisfied("default/pi") {
		t.Fatal("expectations not satisfied after the watch showed every pod")
	}
}
