package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
	"github.com/shoal-dev/shoal/registry/informer"
)

// CronJob event reasons, as Kubernetes names them.
const (
	ReasonMissSchedule      = "MissSchedule"
	ReasonJobAlreadyActive  = "JobAlreadyActive"
	ReasonTooManyMissed     = "TooManyMissedTimes"
	ReasonUnparseableSched  = "UnparseableSchedule"
	ReasonFailedCreateJob   = "FailedCreate"
	maxMissedSchedulesCount = 100
)

// cronJobController makes each CronJob's Jobs at their scheduled times,
// following Kubernetes' cronjob controller (v2): the most recent missed
// time runs (never a backlog), a run later than startingDeadlineSeconds is
// skipped, Forbid and Replace act on the Jobs still active, and finished
// Jobs beyond the history limits are deleted.
//
// A Job's name is the CronJob's plus its scheduled minute, so two leaders
// (the two sides of a partition) that both run the same scheduled time
// make the same object, which the merge keeps once.
type cronJobController struct {
	store Store
	cache cache
	rec   Recorder
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
}

func newCronJobController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *cronJobController {
	return &cronJobController{store: store, cache: cache, rec: rec, log: log.With("component", "cronjob"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax)}
}

func (c *cronJobController) loop() *loop {
	return &loop{
		name: "cronjob", cache: c.cache, log: c.log, queue: c.queue,
		workers: 1, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindCronJob, handle: func(_ context.Context, ev api.WatchEvent) {
				if ev.Type != api.Deleted {
					c.queue.Add(keyOf(ev.Object))
				}
			}},
			{kind: api.KindJob, handle: c.onJob},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindCronJob, c.queue) },
	}
}

// onJob queues the CronJob that controls a Job that changed.
func (c *cronJobController) onJob(_ context.Context, ev api.WatchEvent) {
	ref := ev.Object.GetObjectMeta().ControllerRef()
	if ref != nil && ref.Kind == api.KindCronJob.Kind {
		c.queue.Add(ev.Object.GetObjectMeta().Namespace + "/" + ref.Name)
	}
}

func (c *cronJobController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindCronJob, ns, name)
	if !ok {
		return nil
	}
	cj := informer.Copy(obj.(*api.CronJob)) // its status is written below
	if cj.DeletionTimestamp != nil {
		return nil
	}
	now := c.opts.Now()
	active, finished := c.ownedJobs(cj)
	active, finished = c.withRecorded(ctx, cj, active, finished)
	st := cj.Status
	st.Active = nil
	for _, j := range active {
		st.Active = append(st.Active, jobRef(j))
	}
	for _, j := range finished {
		if at, ok := finishedAt(j); ok && isComplete(j) && (st.LastSuccessfulTime == nil || at.After(st.LastSuccessfulTime.Time)) {
			st.LastSuccessfulTime = &api.Time{Time: at}
		}
	}
	c.cleanHistory(ctx, cj, finished)

	next, err := c.schedule(ctx, cj, &st, active, now)
	if err := c.writeStatus(ctx, cj, st); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if !next.IsZero() {
		c.queue.AddAfter(key, next.Sub(now)+100*time.Millisecond)
	}
	return nil
}

// schedule makes the Job of the most recent scheduled time not yet run,
// if any may run now, and returns the next scheduled time (zero if none).
func (c *cronJobController) schedule(ctx context.Context, cj *api.CronJob, st *api.CronJobStatus, active []*api.Job, now time.Time) (time.Time, error) {
	sched, loc, err := api.ParseCronSchedule(cj)
	if err != nil {
		// Validation keeps these out (a time zone may vanish from the host's
		// database); retrying would not help.
		c.rec.Eventf(cj, api.EventWarning, ReasonUnparseableSched, "unparseable schedule %q: %v", cj.Spec.Schedule, err)
		return time.Time{}, nil
	}
	nowIn := now.In(loc)
	next := sched.Next(nowIn)
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return time.Time{}, nil
	}
	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if from := now.Add(-time.Duration(*d) * time.Second); from.After(earliest) {
			earliest = from
		}
	}
	due, missed := mostRecent(sched, earliest.In(loc), nowIn)
	if due.IsZero() {
		return next, nil
	}
	if missed > maxMissedSchedulesCount {
		c.rec.Eventf(cj, api.EventWarning, ReasonTooManyMissed,
			"too many missed start times: %d; running the most recent, %s", missed, due.Format(time.RFC3339))
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && now.Sub(due) > time.Duration(*d)*time.Second {
		c.rec.Eventf(cj, api.EventWarning, ReasonMissSchedule, "Missed scheduled time to start a job: %s", due.Format(time.RFC3339))
		return next, nil
	}
	switch {
	case cj.Spec.ConcurrencyPolicy == api.ConcurrencyForbid && len(active) > 0:
		// Kubernetes waits: the same time runs once the active Job ends,
		// if still within the starting deadline.
		c.rec.Eventf(cj, api.EventNormal, ReasonJobAlreadyActive, "Not starting job because prior execution is running and concurrency policy is Forbid")
		return next, nil
	case cj.Spec.ConcurrencyPolicy == api.ConcurrencyReplace:
		for _, j := range active {
			if _, err := c.store.Delete(ctx, api.KindJob, j.Namespace, j.Name, api.DeleteOptions{UID: j.UID}); err != nil && !api.IsNotFound(err) {
				return next, fmt.Errorf("replace job %s/%s: %w", j.Namespace, j.Name, err)
			}
			c.rec.Eventf(cj, api.EventNormal, ReasonSuccessfulDelete, "Deleted job %s", j.Name)
		}
		st.Active = nil
	}
	job := jobFor(cj, due)
	created, err := c.store.Create(ctx, job)
	switch {
	case api.IsAlreadyExists(err):
		// Made already (by this leader before a restart, or the other side
		// of a partition): this time has run.
		if cur, ok := c.cache.get(api.KindJob, job.Namespace, job.Name); ok && isControlledBy(cur, cj.UID) {
			created = cur
		} else {
			created = nil
		}
	case err != nil:
		c.rec.Eventf(cj, api.EventWarning, ReasonFailedCreateJob, "Error creating job: %v", err)
		return next, fmt.Errorf("create job for cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	default:
		c.rec.Eventf(cj, api.EventNormal, ReasonSuccessfulCreate, "Created job %s", job.Name)
		c.log.Info("created a scheduled job", "cronjob", keyOf(cj), "job", job.Name, "scheduled", due.Format(time.RFC3339))
	}
	if created != nil {
		st.Active = append(st.Active, jobRef(created.(*api.Job)))
	}
	st.LastScheduleTime = &api.Time{Time: due}
	return next, nil
}

// mostRecent returns the latest scheduled time in (earliest, now] and how
// many there were (counted up to a bound: a CronJob stopped for a year
// does not cost half a million steps).
func mostRecent(sched cron.Schedule, earliest, now time.Time) (time.Time, int) {
	var last time.Time
	n := 0
	for t := sched.Next(earliest); !t.After(now); t = sched.Next(t) {
		last = t
		n++
		if n > 10*maxMissedSchedulesCount {
			// Far behind: jump close to now and find the latest from there.
			for t2 := sched.Next(now.Add(-24 * time.Hour)); !t2.After(now); t2 = sched.Next(t2) {
				last = t2
			}
			break
		}
	}
	return last, n
}

// jobFor is the Job a CronJob makes for one scheduled time.
func jobFor(cj *api.CronJob, scheduled time.Time) *api.Job {
	t := informer.Copy(cj).Spec.JobTemplate
	labels := copyMap(t.Labels)
	annotations := copyMap(t.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[api.AnnotationCronJobScheduledTimestamp] = scheduled.Format(time.RFC3339)
	return &api.Job{
		TypeMeta: api.TypeMeta{Kind: api.KindJob.Kind, APIVersion: api.KindJob.APIVersion()},
		ObjectMeta: api.ObjectMeta{
			Name:            fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(cj)},
		},
		Spec: t.Spec,
	}
}

// ownedJobs returns the CronJob's Jobs, unfinished and finished.
func (c *cronJobController) ownedJobs(cj *api.CronJob) (active, finished []*api.Job) {
	for _, o := range c.cache.list(api.KindJob, cj.Namespace, nil) {
		j := o.(*api.Job)
		if !isControlledBy(j, cj.UID) || j.DeletionTimestamp != nil {
			continue
		}
		if api.IsJobFinished(j) {
			finished = append(finished, j)
		} else {
			active = append(active, j)
		}
	}
	sort.Slice(active, func(a, b int) bool { return active[a].Name < active[b].Name })
	return active, finished
}

// withRecorded adds the Jobs the status lists as active that the cache
// does not show yet (made a moment ago): read from the store, so that
// Forbid and Replace see a Job they just made.
func (c *cronJobController) withRecorded(ctx context.Context, cj *api.CronJob, active, finished []*api.Job) ([]*api.Job, []*api.Job) {
	seen := map[string]bool{}
	for _, j := range append(append([]*api.Job(nil), active...), finished...) {
		seen[j.UID] = true
	}
	for _, ref := range cj.Status.Active {
		if seen[ref.UID] {
			continue
		}
		o, err := c.store.Get(ctx, api.KindJob, cj.Namespace, ref.Name)
		if err != nil || o.GetObjectMeta().UID != ref.UID || o.GetObjectMeta().DeletionTimestamp != nil {
			continue // gone: dropped from the status below
		}
		if j := o.(*api.Job); api.IsJobFinished(j) {
			finished = append(finished, j)
		} else {
			active = append(active, j)
		}
	}
	return active, finished
}

// cleanHistory deletes the oldest finished Jobs beyond the limits.
func (c *cronJobController) cleanHistory(ctx context.Context, cj *api.CronJob, finished []*api.Job) {
	var ok, failed []*api.Job
	for _, j := range finished {
		if isComplete(j) {
			ok = append(ok, j)
		} else {
			failed = append(failed, j)
		}
	}
	for _, g := range []struct {
		jobs  []*api.Job
		limit *int32
	}{{ok, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if g.limit == nil || len(g.jobs) <= int(*g.limit) {
			continue
		}
		sort.Slice(g.jobs, func(a, b int) bool {
			ta, _ := finishedAt(g.jobs[a])
			tb, _ := finishedAt(g.jobs[b])
			return ta.Before(tb)
		})
		for _, j := range g.jobs[:len(g.jobs)-int(*g.limit)] {
			if _, err := c.store.Delete(ctx, api.KindJob, j.Namespace, j.Name, api.DeleteOptions{UID: j.UID}); err != nil && !api.IsNotFound(err) {
				c.log.Warn("delete an old job of a cronjob", "job", keyOf(j), "err", err)
				continue
			}
			c.rec.Eventf(cj, api.EventNormal, ReasonSuccessfulDelete, "Deleted job %s", j.Name)
		}
	}
}

func (c *cronJobController) writeStatus(ctx context.Context, cj *api.CronJob, st api.CronJobStatus) error {
	if jsonEqual(cj.Status, st) {
		return nil
	}
	cj.Status = st
	if _, err := c.store.UpdateStatus(ctx, cj); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of cronjob %s: %w", keyOf(cj), err)
	}
	return nil
}

func isComplete(j *api.Job) bool {
	c := api.FindCondition(j.Status.Conditions, api.JobComplete)
	return c != nil && c.Status == api.ConditionTrue
}

func jobRef(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: api.KindJob.Kind, APIVersion: api.KindJob.APIVersion(), Namespace: j.Namespace,
		Name: j.Name, UID: j.UID}
}
