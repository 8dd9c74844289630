package printers

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Job condition types kubectl's STATUS column knows besides Complete and
// Failed.
const (
	jobSuspended          = "Suspended"
	jobFailureTarget      = "FailureTarget"
	jobSuccessCriteriaMet = "SuccessCriteriaMet"
)

func jobRow(o api.Object, now time.Time, _ *Options) []string {
	j, ok := o.(*api.Job)
	if !ok {
		return []string{"", "", "", ""}
	}
	return []string{JobStatus(j), jobCompletions(j), jobDuration(j, now), Age(j.CreationTimestamp, now)}
}

func jobWide(o api.Object) []string {
	j, ok := o.(*api.Job)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&j.Spec.Template, j.Spec.Selector)
}

// JobStatus is the STATUS column of kubectl 1.28 and later: a finished
// job's outcome first, then Terminating, Suspended and the interim
// conditions, else Running.
func JobStatus(j *api.Job) string {
	has := func(t string) bool {
		c := api.FindCondition(j.Status.Conditions, t)
		return c != nil && c.Status == api.ConditionTrue
	}
	switch {
	case has(api.JobComplete):
		return "Complete"
	case has(api.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	// spec.suspend counts too: the condition follows only once the Job
	// controller has seen the change.
	case has(jobSuspended) || j.Spec.Suspend != nil && *j.Spec.Suspend:
		return "Suspended"
	case has(jobFailureTarget):
		return jobFailureTarget
	case has(jobSuccessCriteriaMet):
		return jobSuccessCriteriaMet
	}
	return "Running"
}

// jobCompletions is "3/5"; a job without completions (a work queue) is
// done after one success: "0/1", or "0/1 of 3" with 3 pods in parallel.
func jobCompletions(j *api.Job) string {
	if c := j.Spec.Completions; c != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *c)
	}
	if p := j.Spec.Parallelism; p != nil && *p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

// jobDuration runs from the start to the completion, or to now while the
// job runs; empty before it starts.
func jobDuration(j *api.Job, now time.Time) string {
	switch st := j.Status; {
	case st.StartTime == nil:
		return ""
	case st.CompletionTime == nil:
		return HumanDuration(now.Sub(st.StartTime.Time))
	default:
		return HumanDuration(st.CompletionTime.Sub(st.StartTime.Time))
	}
}

func daemonSetRow(o api.Object, now time.Time, _ *Options) []string {
	d, ok := o.(*api.DaemonSet)
	if !ok {
		return []string{"", "", "", "", "", "", ""}
	}
	st := d.Status
	return []string{
		fmt.Sprint(st.DesiredNumberScheduled),
		fmt.Sprint(st.CurrentNumberScheduled),
		fmt.Sprint(st.NumberReady),
		fmt.Sprint(st.UpdatedNumberScheduled),
		fmt.Sprint(st.NumberAvailable),
		LabelsString(d.Spec.Template.Spec.NodeSelector),
		Age(d.CreationTimestamp, now),
	}
}

func daemonSetWide(o api.Object) []string {
	d, ok := o.(*api.DaemonSet)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&d.Spec.Template, d.Spec.Selector)
}

// cronJobRow is kubectl's: the schedule, its zone (<none>: the agent's),
// whether it is suspended, its running jobs and when it last made one.
func cronJobRow(o api.Object, now time.Time, _ *Options) []string {
	cj, ok := o.(*api.CronJob)
	if !ok {
		return []string{"", "", "", "", "", ""}
	}
	zone := "<none>"
	if z := cj.Spec.TimeZone; z != nil {
		zone = *z
	}
	suspend := "<unset>"
	if s := cj.Spec.Suspend; s != nil {
		suspend = map[bool]string{true: "True", false: "False"}[*s]
	}
	last := "<none>"
	if t := cj.Status.LastScheduleTime; t != nil {
		last = Age(*t, now)
	}
	return []string{cj.Spec.Schedule, zone, suspend, fmt.Sprint(len(cj.Status.Active)), last, Age(cj.CreationTimestamp, now)}
}

func cronJobWide(o api.Object) []string {
	cj, ok := o.(*api.CronJob)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&cj.Spec.JobTemplate.Spec.Template, cj.Spec.JobTemplate.Spec.Selector)
}

func statefulSetRow(o api.Object, now time.Time, _ *Options) []string {
	s, ok := o.(*api.StatefulSet)
	if !ok {
		return []string{"", ""}
	}
	return []string{fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), Age(s.CreationTimestamp, now)}
}

func statefulSetWide(o api.Object) []string {
	s, ok := o.(*api.StatefulSet)
	if !ok {
		return []string{"", ""}
	}
	cells := templateWide(&s.Spec.Template, s.Spec.Selector)
	return cells[:2] // kubectl shows no selector for StatefulSets
}

func revisionRow(o api.Object, now time.Time, _ *Options) []string {
	r, ok := o.(*api.ControllerRevision)
	if !ok {
		return []string{"", "", ""}
	}
	controller := "<none>"
	if ref := r.ControllerRef(); ref != nil {
		controller = strings.ToLower(ref.Kind) + "." + groupOf(ref.APIVersion) + "/" + ref.Name
	}
	return []string{controller, fmt.Sprint(r.Revision), Age(r.CreationTimestamp, now)}
}

// groupOf is the group of an apiVersion ("apps/v1" → "apps").
func groupOf(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

func budgetRow(o api.Object, now time.Time, _ *Options) []string {
	b, ok := o.(*api.PodDisruptionBudget)
	if !ok {
		return []string{"", "", "", ""}
	}
	orNA := func(v *api.IntOrString) string {
		if v == nil {
			return "N/A"
		}
		return v.String()
	}
	return []string{orNA(b.Spec.MinAvailable), orNA(b.Spec.MaxUnavailable), fmt.Sprint(b.Status.DisruptionsAllowed), Age(b.CreationTimestamp, now)}
}

// autoscalerRow prints an autoscaler as kubectl does: its metrics'
// current and target values, the first two then a count of the rest.
func autoscalerRow(o api.Object, now time.Time, _ *Options) []string {
	h, ok := o.(*api.HorizontalPodAutoscaler)
	if !ok {
		return []string{"", "", "", "", "", ""}
	}
	ref := h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
	var targets []string
	for i, m := range h.Spec.Metrics {
		if i == 2 {
			targets = append(targets, fmt.Sprintf("+ %d more...", len(h.Spec.Metrics)-2))
			break
		}
		var st *api.MetricStatus
		if i < len(h.Status.CurrentMetrics) {
			st = &h.Status.CurrentMetrics[i]
		}
		targets = append(targets, api.MetricTargetString(m, st))
	}
	t := "<none>"
	if len(targets) > 0 {
		t = strings.Join(targets, ", ")
	}
	minPods := "<unset>"
	if h.Spec.MinReplicas != nil {
		minPods = fmt.Sprint(*h.Spec.MinReplicas)
	}
	return []string{ref, t, minPods, fmt.Sprint(h.Spec.MaxReplicas), fmt.Sprint(h.Status.CurrentReplicas), Age(h.CreationTimestamp, now)}
}
