package cli

import (
	"fmt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/printers"
)

// job writes a Job as kubectl describe does: its spec's knobs, its timing,
// the pods it counted, then its template.
func (d *describer) job(j *api.Job) {
	d.meta(&j.ObjectMeta, true)
	d.line(0, "Selector", selectorString(j.Spec.Selector))
	if p := j.Spec.Parallelism; p != nil {
		d.line(0, "Parallelism", *p)
	}
	if c := j.Spec.Completions; c != nil {
		d.line(0, "Completions", *c)
	} else {
		d.line(0, "Completions", "<unset>")
	}
	if j.Spec.CompletionMode != "" {
		d.line(0, "Completion Mode", j.Spec.CompletionMode)
	}
	if s := j.Spec.Suspend; s != nil {
		d.line(0, "Suspend", *s)
	}
	if b := j.Spec.BackoffLimit; b != nil {
		d.line(0, "Backoff Limit", *b)
	}
	if ttl := j.Spec.TTLSecondsAfterFinished; ttl != nil {
		d.line(0, "TTL Seconds After Finished", *ttl)
	}
	st := j.Status
	if st.StartTime != nil {
		d.line(0, "Start Time", timestamp(*st.StartTime))
	}
	if st.CompletionTime != nil {
		d.line(0, "Completed At", timestamp(*st.CompletionTime))
	}
	if st.StartTime != nil && st.CompletionTime != nil {
		d.line(0, "Duration", printers.HumanDuration(st.CompletionTime.Sub(st.StartTime.Time)))
	}
	if a := j.Spec.ActiveDeadlineSeconds; a != nil {
		d.line(0, "Active Deadline Seconds", fmt.Sprintf("%ds", *a))
	}
	if st.Ready == nil {
		d.line(0, "Pods Statuses", fmt.Sprintf("%d Active / %d Succeeded / %d Failed", st.Active, st.Succeeded, st.Failed))
	} else {
		d.line(0, "Pods Statuses", fmt.Sprintf("%d Active (%d Ready) / %d Succeeded / %d Failed", st.Active, *st.Ready, st.Succeeded, st.Failed))
	}
	d.template(&j.Spec.Template)
	d.workloadConditions(st.Conditions)
}

// workloadConditions lists conditions with their reasons; a failed Job's
// reason (BackoffLimitExceeded, DeadlineExceeded) is the first thing asked.
func (d *describer) workloadConditions(cs []api.Condition) {
	if len(cs) == 0 {
		return
	}
	d.text(0, "Conditions:")
	d.text(1, "Type\tStatus\tReason")
	d.text(1, "----\t------\t------")
	for _, c := range cs {
		d.text(1, "%s\t%s\t%s", c.Type, c.Status, printers.OrNone(c.Reason))
	}
}

// daemonSet writes a DaemonSet as kubectl describe does; the node counts
// are not aligned with the other lines there either.
func (d *describer) daemonSet(ds *api.DaemonSet) error {
	d.meta(&ds.ObjectMeta, true)
	d.line(0, "Selector", selectorString(ds.Spec.Selector))
	d.line(0, "Node-Selector", printers.LabelsString(ds.Spec.Template.Spec.NodeSelector))
	st := ds.Status
	for _, n := range []struct {
		label string
		v     int32
	}{
		{"Desired Number of Nodes Scheduled", st.DesiredNumberScheduled},
		{"Current Number of Nodes Scheduled", st.CurrentNumberScheduled},
		{"Number of Nodes Scheduled with Up-to-date Pods", st.UpdatedNumberScheduled},
		{"Number of Nodes Scheduled with Available Pods", st.NumberAvailable},
		{"Number of Nodes Misscheduled", st.NumberMisscheduled},
	} {
		d.text(0, "%s: %d", n.label, n.v)
	}
	counts, err := d.podPhases(ds.Namespace, ds.Spec.Selector, ds.UID)
	if err != nil {
		return err
	}
	d.line(0, "Pods Status", fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed",
		counts[api.PodRunning], counts[api.PodPending], counts[api.PodSucceeded], counts[api.PodFailed]))
	d.template(&ds.Spec.Template)
	return nil
}
