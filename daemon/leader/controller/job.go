package controller

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// Job condition types, reasons and event reasons, as Kubernetes names them.
const (
	JobSuspended = "Suspended"

	ReasonJobSuspended = "JobSuspended"
	ReasonJobResumed   = "JobResumed"
	ReasonSuspended    = "Suspended"
	ReasonResumed      = "Resumed"
	ReasonCompleted    = "Completed"

	msgBackoffLimitExceeded = "Job has reached the specified backoff limit"
	msgDeadlineExceeded     = "Job was active longer than specified deadline"
)

// jobController runs every Job's pods to completion, following Kubernetes'
// pkg/controller/job for NonIndexed jobs. It also deletes finished Jobs
// once their ttlSecondsAfterFinished has passed, which Kubernetes leaves to
// a separate TTL controller.
//
// Succeeded and failed pods are counted from the pods present, but the
// counts written to the status never go down: a user who deletes finished
// pods does not make the Job run them again. A pod that was deleted while it
// ran (suspension, scale-down, eviction) does not count as a failure, even
// if its node reported it Failed while stopping it.
type jobController struct {
	store   Store
	cache   cache
	rec     Recorder
	log     *slog.Logger
	opts    Options
	queue   *workqueue.Queue
	exp     *expectations
	backoff *failureBackoff
	pods    *ownedPods // the pod watch goroutine's only
}

func newJobController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *jobController {
	return &jobController{
		store:   store,
		cache:   cache,
		rec:     rec,
		log:     log.With("component", "job"),
		opts:    opts,
		queue:   workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax),
		exp:     newExpectations(opts.ExpectationsTimeout, opts.Now),
		backoff: newFailureBackoff(opts.FailedPodBackoff, opts.FailedPodBackoffMax),
		pods:    newOwnedPods(api.KindJob),
	}
}

func (c *jobController) loop() *loop {
	return &loop{
		name: "job", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindJob, handle: c.onJob},
			{kind: api.KindPod, handle: c.onPod},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindJob, c.queue) },
	}
}

func (c *jobController) onJob(_ context.Context, ev api.WatchEvent) {
	key := keyOf(ev.Object)
	if ev.Type == api.Deleted {
		c.forget(key)
		return
	}
	c.queue.Add(key)
}

func (c *jobController) forget(key string) {
	c.exp.forget(key)
	c.backoff.forget(key)
}

func (c *jobController) onPod(ctx context.Context, ev api.WatchEvent) {
	podHandler{pods: c.pods, creates: c.exp, deletes: c.exp, queue: c.queue, selecting: c.enqueueSelecting}.onPod(ctx, ev)
}

// enqueueSelecting queues the unfinished Jobs whose selector matches pod.
func (c *jobController) enqueueSelecting(_ context.Context, pod *api.Pod) {
	for _, o := range c.cache.list(api.KindJob, pod.Namespace, nil) {
		j := o.(*api.Job)
		if api.IsJobFinished(j) {
			continue
		}
		if sel, err := j.Spec.Selector.AsSelector(); err == nil && !sel.Empty() && sel.Matches(pod.Labels) {
			c.queue.Add(keyOf(j))
		}
	}
}

// jobRun is what one sync of one Job works on.
type jobRun struct {
	job       *api.Job
	status    api.JobStatus // being built from the stored one
	active    []*api.Pod
	succeeded int32
	failed    int32
	restarts  int32 // container restarts of pods still running
	now       time.Time
	notes     []jobNote // events to record once the status is written
}

type jobNote struct{ typ, reason, msg string }

func (r *jobRun) note(typ, reason, msg string) {
	r.notes = append(r.notes, jobNote{typ, reason, msg})
}

func (r *jobRun) suspended() bool { return r.job.Spec.Suspend != nil && *r.job.Spec.Suspend }

// sync runs one Job a step forward and writes its status.
func (c *jobController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindJob, ns, name)
	if !ok {
		c.forget(key)
		return nil
	}
	job := informer.Copy(obj.(*api.Job)) // its status is written below
	if api.IsJobFinished(job) {
		c.forget(key)
		return c.expire(ctx, key, job)
	}
	sel, err := job.Spec.Selector.AsSelector()
	if err != nil || sel.Empty() {
		// Validation keeps these out; retrying would not help.
		c.rec.Eventf(job, api.EventWarning, ReasonSelectorInvalid, "Invalid selector: %v", err)
		return nil
	}
	// Whether the creations and deletions made are all seen is read before
	// the pods are: read after, a pod seen (and counted) between the two
	// reads would be missing from the list and made again.
	needsSync := c.exp.satisfied(key)
	pods, err := c.claimPods(ctx, job, sel)
	if err != nil {
		return err
	}
	run, err := c.observe(job, pods)
	if err != nil {
		return err
	}
	var stepErr error
	if reason, msg := failureOf(run); reason != "" {
		stepErr = c.fail(ctx, key, run, reason, msg)
	} else {
		if needsSync && job.DeletionTimestamp == nil { // a Job being deleted makes no pods
			stepErr = c.manage(ctx, key, run)
		}
		completeIfDone(run)
	}
	if err := c.writeStatus(ctx, run); err != nil {
		return err
	}
	for _, n := range run.notes {
		c.rec.Eventf(job, n.typ, n.reason, "%s", n.msg)
	}
	if stepErr != nil {
		return stepErr
	}
	c.requeueForDeadline(key, run)
	return nil
}

// claimPods returns every pod the Job controls, finished ones included, after
// adopting matching orphans and releasing pods that no longer match.
func (c *jobController) claimPods(ctx context.Context, job *api.Job, sel api.Selector) ([]*api.Pod, error) {
	claimed, err := newClaimer(c.store, job, sel).claim(ctx, c.cache.candidates(api.KindPod, job, sel))
	pods := make([]*api.Pod, len(claimed))
	for i, o := range claimed {
		pods[i] = o.(*api.Pod)
	}
	return pods, err
}

// observe counts the Job's pods and moves its start time and Suspended
// condition along.
func (c *jobController) observe(job *api.Job, pods []*api.Pod) (*jobRun, error) {
	st, err := deepCopy(job.Status)
	if err != nil {
		return nil, err
	}
	r := &jobRun{job: job, status: st, now: c.opts.Now()}
	var succeeded, failed int32
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			succeeded++
		case p.Status.Phase == api.PodFailed && p.DeletionTimestamp == nil:
			failed++
		case isPodActive(p):
			r.active = append(r.active, p)
		}
		if p.Status.Phase == api.PodRunning || p.Status.Phase == api.PodPending {
			r.restarts += restartsOf(p)
		}
	}
	r.succeeded = max(succeeded, st.Succeeded)
	r.failed = max(failed, st.Failed)
	c.observeSuspension(r)
	if r.status.StartTime == nil && !r.suspended() {
		t := api.NewTime(r.now)
		r.status.StartTime = &t
	}
	return r, nil
}

// observeSuspension sets the Suspended condition. A resumed Job starts its
// clock again: activeDeadlineSeconds counts continuous activity.
func (c *jobController) observeSuspension(r *jobRun) {
	cond := api.FindCondition(r.status.Conditions, JobSuspended)
	wasSuspended := cond != nil && cond.Status == api.ConditionTrue
	switch {
	case r.suspended() && !wasSuspended:
		api.SetCondition(&r.status.Conditions, api.Condition{Type: JobSuspended, Status: api.ConditionTrue,
			Reason: ReasonJobSuspended, Message: "Job suspended", LastTransitionTime: api.NewTime(r.now)})
		r.note(api.EventNormal, ReasonSuspended, "Job suspended")
	case !r.suspended() && wasSuspended:
		api.SetCondition(&r.status.Conditions, api.Condition{Type: JobSuspended, Status: api.ConditionFalse,
			Reason: ReasonJobResumed, Message: "Job resumed", LastTransitionTime: api.NewTime(r.now)})
		r.note(api.EventNormal, ReasonResumed, "Job resumed")
		t := api.NewTime(r.now)
		r.status.StartTime = &t
	}
}

// restartsOf sums the restarts of a pod's containers.
func restartsOf(p *api.Pod) int32 {
	var n int32
	for _, s := range p.Status.InitContainerStatuses {
		n += s.RestartCount
	}
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// failureOf says why the Job has failed, if it has: too many failed pods
// (or, with restartPolicy OnFailure, container restarts) or its deadline.
func failureOf(r *jobRun) (reason, msg string) {
	limit := int32(6)
	if r.job.Spec.BackoffLimit != nil {
		limit = *r.job.Spec.BackoffLimit
	}
	if r.failed > limit || pastBackoffLimitOnFailure(r.job, r.restarts, limit) {
		return api.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded
	}
	if left, ok := deadlineLeft(r); ok && left <= 0 {
		return api.JobReasonDeadlineExceeded, msgDeadlineExceeded
	}
	return "", ""
}

// pastBackoffLimitOnFailure: with OnFailure the node restarts containers in
// place, so Kubernetes counts their restarts against backoffLimit too, and
// fails the Job once they reach it (any restart when the limit is 0).
func pastBackoffLimitOnFailure(job *api.Job, restarts, limit int32) bool {
	if job.Spec.Template.Spec.RestartPolicy != api.RestartOnFailure {
		return false
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// deadlineLeft is how long the Job may still be active; ok is false when no
// deadline runs (none set, not started, or suspended).
func deadlineLeft(r *jobRun) (time.Duration, bool) {
	ads := r.job.Spec.ActiveDeadlineSeconds
	if ads == nil || r.status.StartTime == nil || r.suspended() {
		return 0, false
	}
	end := r.status.StartTime.Add(time.Duration(*ads) * time.Second)
	return end.Sub(r.now), true
}

// fail deletes the active pods, which count as failed, and marks the Job
// Failed. If a deletion fails the condition waits for the next sync, since a
// finished Job is not synced again.
func (c *jobController) fail(ctx context.Context, key string, r *jobRun, reason, msg string) error {
	gone, err := c.writer(key, r.job).remove(ctx, r.active, nil)
	r.failed += int32(len(gone))
	r.active = without(r.active, gone)
	if err != nil {
		return err
	}
	api.SetCondition(&r.status.Conditions, api.Condition{Type: api.JobFailed, Status: api.ConditionTrue,
		Reason: reason, Message: msg, LastTransitionTime: api.NewTime(r.now)})
	r.note(api.EventWarning, reason, msg)
	c.log.Info("job failed", "job", key, "reason", reason)
	return nil
}

func (c *jobController) writer(key string, job *api.Job) *podWriter {
	return &podWriter{store: c.store, rec: c.rec, creates: c.exp, deletes: c.exp, key: key, owner: job}
}

// wantActive is how many pods should run now: none while suspended; with
// completions, no more than the completions still missing; without
// (a work queue), parallelism until one pod succeeds, then no new ones.
func (r *jobRun) wantActive() int32 {
	if r.suspended() {
		return 0
	}
	par := int32(1)
	if r.job.Spec.Parallelism != nil {
		par = *r.job.Spec.Parallelism
	}
	comp := r.job.Spec.Completions
	if comp == nil {
		if r.succeeded > 0 {
			return int32(len(r.active))
		}
		return par
	}
	return max(0, min(par, *comp-r.succeeded))
}

// manage creates or deletes pods so that wantActive are active. Failed pods
// are replaced only after the back-off of the failures so far.
func (c *jobController) manage(ctx context.Context, key string, r *jobRun) error {
	wait := c.backoff.observe(key, r.failed, r.now)
	diff := int(r.wantActive()) - len(r.active)
	w := c.writer(key, r.job)
	switch {
	case diff < 0:
		gone, err := w.remove(ctx, podsToDelete(r.active, min(-diff, c.opts.BurstReplicas)), nil)
		r.active = without(r.active, gone)
		return err
	case diff > 0 && wait > 0:
		c.log.Debug("waiting before replacing failed pods", "job", key, "failed", r.failed, "wait", wait)
		c.queue.AddAfter(key, wait)
	case diff > 0:
		created, err := w.create(ctx, min(diff, c.opts.BurstReplicas), func(int) (*api.Pod, error) {
			return newPodFromTemplate(r.job, &r.job.Spec.Template)
		})
		r.active = append(r.active, created...)
		if len(created) > 0 {
			c.log.Debug("created pods", "job", key, "count", len(created))
		}
		return err
	}
	return nil
}

// completeIfDone marks the Job Complete once enough pods succeeded (with
// completions) or one did (without), and none is active any more.
func completeIfDone(r *jobRun) {
	if len(r.active) > 0 {
		return
	}
	comp := r.job.Spec.Completions
	if comp == nil && r.succeeded == 0 || comp != nil && r.succeeded < *comp {
		return
	}
	t := api.NewTime(r.now)
	r.status.CompletionTime = &t
	api.SetCondition(&r.status.Conditions, api.Condition{Type: api.JobComplete, Status: api.ConditionTrue,
		LastTransitionTime: t})
	r.note(api.EventNormal, ReasonCompleted, "Job completed")
}

// writeStatus writes the counts and conditions, only when they changed.
func (c *jobController) writeStatus(ctx context.Context, r *jobRun) error {
	st := r.status
	st.Active = int32(len(r.active))
	st.Succeeded, st.Failed = r.succeeded, r.failed
	var ready int32
	for _, p := range r.active {
		if api.IsPodReady(p) {
			ready++
		}
	}
	st.Ready = &ready
	job := r.job
	if jsonEqual(job.Status, st) {
		return nil
	}
	job.Status = st
	if _, err := c.store.UpdateStatus(ctx, job); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of job %s: %w", keyOf(job), err)
	}
	if api.IsJobFinished(job) {
		c.log.Info("job finished", "job", keyOf(job), "succeeded", st.Succeeded, "failed", st.Failed)
	}
	return nil
}

// requeueForDeadline syncs the Job again when its deadline passes: that
// moment brings no watch event.
func (c *jobController) requeueForDeadline(key string, r *jobRun) {
	if api.IsJobFinished(r.job) {
		return
	}
	if left, ok := deadlineLeft(r); ok {
		c.queue.AddAfter(key, left+10*time.Millisecond)
	}
}

// finishedAt is when the Job finished: its completion time, or when its
// Failed condition was set.
func finishedAt(job *api.Job) (time.Time, bool) {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time, true
	}
	for _, t := range []string{api.JobComplete, api.JobFailed} {
		if c := api.FindCondition(job.Status.Conditions, t); c != nil && c.Status == api.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// expire deletes a finished Job once ttlSecondsAfterFinished has passed;
// the garbage collector then deletes its pods.
func (c *jobController) expire(ctx context.Context, key string, job *api.Job) error {
	ttl := job.Spec.TTLSecondsAfterFinished
	at, ok := finishedAt(job)
	if ttl == nil || !ok {
		return nil
	}
	if left := at.Add(time.Duration(*ttl) * time.Second).Sub(c.opts.Now()); left > 0 {
		c.queue.AddAfter(key, left+10*time.Millisecond)
		return nil
	}
	_, err := c.store.Delete(ctx, api.KindJob, job.Namespace, job.Name, api.DeleteOptions{UID: job.UID})
	if err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("delete job %s after its ttl: %w", key, err)
	}
	c.log.Info("deleted a finished job after its ttl", "job", key, "ttl", time.Duration(*ttl)*time.Second)
	return nil
}
