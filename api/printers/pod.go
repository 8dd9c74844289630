package printers

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// PodSummary is what the READY, STATUS and RESTARTS columns show.
type PodSummary struct {
	Ready, Total int
	Reason       string
	Restarts     int
	LastRestart  api.Time // when the latest restarted container last ended
}

// RestartsString is "3" or "3 (5m ago)", as kubectl prints it.
func (s PodSummary) RestartsString(now time.Time) string {
	if s.Restarts == 0 || s.LastRestart.IsZero() {
		return strconv.Itoa(s.Restarts)
	}
	return fmt.Sprintf("%d (%s ago)", s.Restarts, Age(s.LastRestart, now))
}

// PodStatus computes the STATUS column the way kubectl does: the phase or
// the pod's reason (SchedulingGated while it has scheduling gates), overridden by the first failing init container
// (Init:Error, Init:CrashLoopBackOff, Init:1/3), then by the last container
// that is waiting or terminated (ContainerCreating, CrashLoopBackOff,
// Completed, Error), and Terminating while the pod is being deleted.
func PodStatus(p *api.Pod) PodSummary {
	s := PodSummary{Total: len(p.Spec.Containers), Reason: p.Status.Phase}
	if p.Status.Reason != "" {
		s.Reason = p.Status.Reason
	}
	if s.Reason == "" {
		s.Reason = api.PodPending
	}
	if len(p.Spec.SchedulingGates) > 0 {
		s.Reason = "SchedulingGated" // as kubectl: held back from scheduling
	}
	initializing := initStatus(p, &s)
	if !initializing || podInitialized(p) {
		containerStatus(p, &s)
	}
	if p.DeletionTimestamp != nil {
		if p.Status.Reason == "NodeLost" {
			s.Reason = api.PodUnknown
		} else if !api.IsPodTerminal(p) {
			s.Reason = "Terminating"
		}
	}
	return s
}

// initStatus looks at init containers in order and reports whether the pod
// is still initializing.
func initStatus(p *api.Pod, s *PodSummary) bool {
	for i, c := range p.Status.InitContainerStatuses {
		s.Restarts += int(c.RestartCount)
		noteRestart(s, c)
		switch t, w := c.State.Terminated, c.State.Waiting; {
		case t != nil && t.ExitCode == 0:
			continue
		case t != nil:
			s.Reason = "Init:" + terminatedReason(t)
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			s.Reason = "Init:" + w.Reason
		default:
			s.Reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		return true
	}
	return false
}

// containerStatus walks the app containers from the last to the first, so
// the first container's state wins, as in kubectl.
func containerStatus(p *api.Pod, s *PodSummary) {
	s.Restarts, s.LastRestart = 0, api.Time{}
	hasRunning := false
	for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
		c := p.Status.ContainerStatuses[i]
		s.Restarts += int(c.RestartCount)
		noteRestart(s, c)
		switch t, w := c.State.Terminated, c.State.Waiting; {
		case w != nil && w.Reason != "":
			s.Reason = w.Reason
		case t != nil && t.Reason != "":
			s.Reason = t.Reason
		case t != nil:
			s.Reason = terminatedReason(t)
		case c.Ready && c.State.Running != nil:
			hasRunning = true
			s.Ready++
		}
	}
	if s.Reason == "Completed" && hasRunning {
		s.Reason = "NotReady"
		if api.IsPodReady(p) {
			s.Reason = api.PodRunning
		}
	}
}

func noteRestart(s *PodSummary, c api.ContainerStatus) {
	if t := c.LastState.Terminated; t != nil && t.FinishedAt.After(s.LastRestart.Time) {
		s.LastRestart = t.FinishedAt
	}
}

// terminatedReason names a container end without a reason of its own.
func terminatedReason(t *api.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	}
	return fmt.Sprintf("ExitCode:%d", t.ExitCode)
}

func podInitialized(p *api.Pod) bool {
	c := api.FindCondition(p.Status.Conditions, api.PodInitialized)
	return c != nil && c.Status == api.ConditionTrue
}
