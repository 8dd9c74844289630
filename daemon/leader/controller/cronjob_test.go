package controller

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/internal/poll"
)

// startCron runs the controllers with a clock at the start of the next
// real minute plus a second (so the CronJob, created now, has no missed
// time yet).
func startCron(t *testing.T) (testStore, *fakeClock, *events.FakeRecorder) {
	t.Helper()
	store := newTestStore(t)
	clock := &fakeClock{t: time.Now().Truncate(time.Minute).Add(time.Minute - time.Second)}
	opts := fastOptions()
	opts.Now = clock.now
	return store, clock, startManager(t, store, opts)
}

func newCronJob(name, schedule string, change func(*api.CronJob)) *api.CronJob {
	t := podTemplate(name, "img:v1")
	t.Spec.RestartPolicy = api.RestartNever
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.CronJobSpec{Schedule: schedule, TimeZone: ptr("Etc/UTC"),
			JobTemplate: api.JobTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"from": name}},
				Spec: api.JobSpec{Template: t}}}}
	if change != nil {
		change(cj)
	}
	return cj
}

func ptr[T any](v T) *T { return &v }

// cronJobs lists the Jobs of a CronJob by name, sorted.
func cronJobs(t *testing.T, store testStore, cj string) []*api.Job {
	t.Helper()
	objs, _, err := store.List(context.Background(), api.KindJob, "default", api.SelectorFromSet(map[string]string{"from": cj}))
	if err != nil {
		t.Fatal(err)
	}
	var out []*api.Job
	for _, o := range objs {
		if o.GetObjectMeta().DeletionTimestamp == nil {
			out = append(out, o.(*api.Job))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func jobNames(jobs []*api.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func waitJobs(t *testing.T, store testStore, cj string, want ...string) []*api.Job {
	t.Helper()
	var jobs []*api.Job
	poll.Until(t, 10*time.Second, fmt.Sprintf("jobs of %s: %v", cj, want), func() error {
		jobs = cronJobs(t, store, cj)
		if got := fmt.Sprint(jobNames(jobs)); got != fmt.Sprint(want) && !(len(want) == 0 && len(jobs) == 0) {
			return fmt.Errorf("got %s", got)
		}
		return nil
	})
	return jobs
}

func minuteName(cj string, t time.Time) string { return fmt.Sprintf("%s-%d", cj, t.Unix()/60) }

func TestCronJobRunsEachScheduledTimeOnceAndOnlyTheLatestMissed(t *testing.T) {
	store, clock, _ := startCron(t)
	if _, err := store.Create(context.Background(), newCronJob("tick", "* * * * *", nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	waitJobs(t, store, "tick") // nothing due yet
	clock.step(2 * time.Second)
	first := clock.now().Truncate(time.Minute)
	jobs := waitJobs(t, store, "tick", minuteName("tick", first))
	j := jobs[0]
	if ref := j.ControllerRef(); ref == nil || ref.Kind != "CronJob" || ref.Name != "tick" {
		t.Fatalf("job's controller: %+v", j.OwnerReferences)
	}
	if got := j.Annotations[api.AnnotationCronJobScheduledTimestamp]; got != first.UTC().Format(time.RFC3339) {
		t.Fatalf("scheduled-timestamp annotation %q, want %s", got, first.UTC().Format(time.RFC3339))
	}
	poll.Until(t, 10*time.Second, "status", func() error {
		o, _ := store.Get(context.Background(), api.KindCronJob, "default", "tick")
		st := o.(*api.CronJob).Status
		if st.LastScheduleTime == nil || !st.LastScheduleTime.Equal(first) || len(st.Active) != 1 || st.Active[0].Name != j.Name {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// Five minutes pass unseen: only the latest of them runs.
	clock.step(5 * time.Minute)
	latest := clock.now().Truncate(time.Minute)
	waitJobs(t, store, "tick", minuteName("tick", first), minuteName("tick", latest))
	time.Sleep(500 * time.Millisecond) // several resyncs: nothing more
	waitJobs(t, store, "tick", minuteName("tick", first), minuteName("tick", latest))
}

func TestCronJobConcurrencyPolicies(t *testing.T) {
	store, clock, rec := startCron(t)
	ctx := context.Background()
	for _, cj := range []*api.CronJob{
		newCronJob("forbid", "* * * * *", func(c *api.CronJob) { c.Spec.ConcurrencyPolicy = api.ConcurrencyForbid }),
		newCronJob("replace", "* * * * *", func(c *api.CronJob) { c.Spec.ConcurrencyPolicy = api.ConcurrencyReplace }),
	} {
		if _, err := store.Create(ctx, cj); err != nil {
			t.Fatal(err)
		}
	}
	clock.step(2 * time.Second)
	first := clock.now().Truncate(time.Minute)
	waitJobs(t, store, "forbid", minuteName("forbid", first))
	waitJobs(t, store, "replace", minuteName("replace", first))
	// The first Jobs never finish (nobody runs their pods).
	clock.step(time.Minute)
	second := clock.now().Truncate(time.Minute)
	waitJobs(t, store, "replace", minuteName("replace", second))
	poll.Until(t, 10*time.Second, "a JobAlreadyActive event", func() error {
		for _, e := range rec.Events() {
			if e.Name == "forbid" && e.Reason == ReasonJobAlreadyActive {
				return nil
			}
		}
		return fmt.Errorf("events: %v", rec.Events())
	})
	waitJobs(t, store, "forbid", minuteName("forbid", first))
}

func TestCronJobKeepsHistoryLimitsSkipsPastDeadlineAndSuspends(t *testing.T) {
	store, clock, _ := startCron(t)
	ctx := context.Background()
	hist := newCronJob("hist", "* * * * *", func(c *api.CronJob) { c.Spec.SuccessfulJobsHistoryLimit = api.Int32(1) })
	late := newCronJob("late", "* * * * *", func(c *api.CronJob) { c.Spec.StartingDeadlineSeconds = ptr[int64](10) })
	off := newCronJob("off", "* * * * *", func(c *api.CronJob) { c.Spec.Suspend = api.Bool(true) })
	for _, cj := range []*api.CronJob{hist, late, off} {
		if _, err := store.Create(ctx, cj); err != nil {
			t.Fatal(err)
		}
	}
	// The pods of "hist" succeed at once; the others run on.
	startJobNode(t, store, func(p *api.Pod, _ time.Duration) int32 {
		if p.Labels["app"] == "hist" {
			return 0
		}
		return -1
	})
	var names []string
	for range 3 {
		clock.step(time.Minute)
		names = append(names, minuteName("hist", clock.now().Truncate(time.Minute)))
		last := names[len(names)-1]
		poll.Until(t, 10*time.Second, last+" complete", func() error {
			o, err := store.Get(ctx, api.KindJob, "default", last)
			if err != nil || !conditionTrue(o.(*api.Job).Status.Conditions, api.JobComplete) {
				return fmt.Errorf("not yet: %v", err)
			}
			return nil
		})
	}
	// One finished Job kept: the latest.
	waitJobs(t, store, "hist", names[len(names)-1])
	// The clock stands a second before a minute: two seconds on, "late"
	// runs within its 10 s deadline.
	clock.step(2 * time.Second)
	lateFirst := minuteName("late", clock.now().Truncate(time.Minute))
	waitJobs(t, store, "late", lateFirst)
	// 30 s past the next minute its deadline has passed: that time is
	// skipped (as Kubernetes does, the missed window is not looked at), and
	// the one after runs.
	clock.step(time.Minute + 30*time.Second)
	time.Sleep(600 * time.Millisecond) // several resyncs
	waitJobs(t, store, "late", lateFirst)
	clock.step(30 * time.Second)
	waitJobs(t, store, "late", lateFirst, minuteName("late", clock.now().Truncate(time.Minute)))
	if jobs := cronJobs(t, store, "off"); len(jobs) != 0 {
		t.Fatalf("a suspended CronJob made %v", jobNames(jobs))
	}
}
