package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// podSummary is what the READY, STATUS and RESTARTS columns show.
type podSummary struct {
	ready, total int
	reason       string
	restarts     int
	lastRestart  api.Time // when the latest restarted container last ended
}

// restartsString is "3" or "3 (5m ago)", as kubectl prints it.
func (s podSummary) restartsString(now time.Time) string {
	if s.restarts == 0 || s.lastRestart.IsZero() {
		return strconv.Itoa(s.restarts)
	}
	return fmt.Sprintf("%d (%s ago)", s.restarts, age(s.lastRestart, now))
}

// podStatus computes the STATUS column the way kubectl does: the phase or
// the pod's reason (SchedulingGated while it has scheduling gates), overridden by the first failing init container
// (Init:Error, Init:CrashLoopBackOff, Init:1/3), then by the last container
// that is waiting or terminated (ContainerCreating, CrashLoopBackOff,
// Completed, Error), and Terminating while the pod is being deleted.
func podStatus(p *api.Pod) podSummary {
	s := podSummary{total: len(p.Spec.Containers), reason: p.Status.Phase}
	if p.Status.Reason != "" {
		s.reason = p.Status.Reason
	}
	if s.reason == "" {
		s.reason = api.PodPending
	}
	if len(p.Spec.SchedulingGates) > 0 {
		s.reason = "SchedulingGated" // as kubectl: held back from scheduling
	}
	initializing := initStatus(p, &s)
	if !initializing || podInitialized(p) {
		containerStatus(p, &s)
	}
	if p.DeletionTimestamp != nil {
		if p.Status.Reason == "NodeLost" {
			s.reason = api.PodUnknown
		} else if !api.IsPodTerminal(p) {
			s.reason = "Terminating"
		}
	}
	return s
}

// initStatus looks at init containers in order and reports whether the pod
// is still initializing.
func initStatus(p *api.Pod, s *podSummary) bool {
	for i, c := range p.Status.InitContainerStatuses {
		s.restarts += int(c.RestartCount)
		noteRestart(s, c)
		switch t, w := c.State.Terminated, c.State.Waiting; {
		case t != nil && t.ExitCode == 0:
			continue
		case t != nil:
			s.reason = "Init:" + terminatedReason(t)
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			s.reason = "Init:" + w.Reason
		default:
			s.reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		return true
	}
	return false
}

// containerStatus walks the app containers from the last to the first, so
// the first container's state wins, as in kubectl.
func containerStatus(p *api.Pod, s *podSummary) {
	s.restarts, s.lastRestart = 0, api.Time{}
	hasRunning := false
	for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
		c := p.Status.ContainerStatuses[i]
		s.restarts += int(c.RestartCount)
		noteRestart(s, c)
		switch t, w := c.State.Terminated, c.State.Waiting; {
		case w != nil && w.Reason != "":
			s.reason = w.Reason
		case t != nil && t.Reason != "":
			s.reason = t.Reason
		case t != nil:
			s.reason = terminatedReason(t)
		case c.Ready && c.State.Running != nil:
			hasRunning = true
			s.ready++
		}
	}
	if s.reason == "Completed" && hasRunning {
		s.reason = "NotReady"
		if api.IsPodReady(p) {
			s.reason = api.PodRunning
		}
	}
}

func noteRestart(s *podSummary, c api.ContainerStatus) {
	if t := c.LastState.Terminated; t != nil && t.FinishedAt.After(s.lastRestart.Time) {
		s.lastRestart = t.FinishedAt
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
