package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// containerView is what the status needs of one container.
type containerView struct {
	status     api.ContainerStatus
	running    bool
	neverRan   bool // no container exists yet
	finalOK    bool // ended successfully and will not restart
	finalFail  bool // ended in failure and will not restart
	terminated bool
}

func terminatedState(st engine.State) *api.ContainerStateTerminated {
	reason := "Completed"
	if st.ExitCode != 0 {
		reason = "Error"
	}
	if st.OOMKilled {
		reason = "OOMKilled"
	}
	return &api.ContainerStateTerminated{ExitCode: int32(st.ExitCode), Reason: reason, Message: st.Error,
		StartedAt: api.NewTime(st.StartedAt), FinishedAt: api.NewTime(st.FinishedAt), ContainerID: "docker://" + st.ID}
}

// view builds the status of one container from its newest two instances.
func (w *podWorker) view(ctx context.Context, pod *api.Pod, c *api.Container, pc podContainers, sandboxID string) containerView {
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
	v := containerView{}
	list := pc[c.Name]
	if len(list) == 0 {
		v.neverRan = true
		waiting := api.ContainerStateWaiting{Reason: "ContainerCreating"}
		if wt, ok := w.waiting[c.Name]; ok {
			waiting = wt
		}
		cs.State.Waiting = &waiting
		v.status = cs
		return v
	}
	cur := &list[0]
	cs.RestartCount = int32(cur.attempt)
	cs.ContainerID = "docker://" + cur.ID
	st, err := w.inspect(ctx, cur)
	if err == nil {
		cs.ImageID = st.ImageID
	}
	switch {
	case err != nil:
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: "ContainerStatusUnknown", Message: err.Error()}
	case st.Running && cur.Labels[engine.LabelSandbox] == sandboxID:
		cs.State.Running = &api.ContainerStateRunning{StartedAt: api.NewTime(st.StartedAt)}
		ready, started := w.probes.state(c.Name, cur.ID)
		cs.Started = api.Bool(started)
		cs.Ready = ready
		v.running = true
	case st.Status == "created":
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: "ContainerCreating"}
	default:
		t := terminatedState(st)
		v.terminated = true
		cs.Started = api.Bool(false)
		if wt, ok := w.waiting[c.Name]; ok {
			cs.State.Waiting = &wt
			cs.LastState.Terminated = t
		} else {
			cs.State.Terminated = t
		}
		if !shouldRestart(pod.Spec.RestartPolicy, st.ExitCode) {
			v.finalOK = st.ExitCode == 0
			v.finalFail = st.ExitCode != 0
		}
	}
	if cs.LastState.Terminated == nil && len(list) > 1 {
		if prev, err := w.inspect(ctx, &list[1]); err == nil && !prev.Running {
			cs.LastState.Terminated = terminatedState(prev)
		}
	}
	if wt, ok := w.waiting[c.Name]; ok && !v.running && cs.State.Waiting == nil {
		cs.State = api.ContainerState{Waiting: &wt}
	}
	v.status = cs
	return v
}

// buildStatus computes the pod's status from its containers, following the
// kubelet's phase rules.
func (w *podWorker) buildStatus(ctx context.Context, pod *api.Pod, pc podContainers, sandboxID, podIP string) api.PodStatus {
	st := api.PodStatus{HostIP: w.rt.cfg.HostIP, PodIP: podIP, QOSClass: qosClass(pod),
		Conditions: append([]api.Condition(nil), pod.Status.Conditions...), StartTime: pod.Status.StartTime}
	if st.StartTime == nil {
		st.StartTime = api.NowPtr()
	}
	if podIP != "" {
		st.PodIPs = []api.PodIP{{IP: podIP}}
	}
	initDone, initFailed := true, false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		v := w.view(ctx, pod, c, pc, sandboxID)
		v.status.Ready = v.terminated && v.status.State.Terminated != nil && v.status.State.Terminated.ExitCode == 0
		ok := false
		if l := pc[c.Name]; len(l) > 0 && l[0].Labels[engine.LabelSandbox] == sandboxID {
			if s, err := w.inspect(ctx, &l[0]); err == nil && !s.Running && s.Status != "created" && s.ExitCode == 0 {
				ok = true
				v.status.Ready = true
			}
		}
		if !ok {
			initDone = false
			if v.terminated && pod.Spec.RestartPolicy == api.RestartNever {
				initFailed = true
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, v.status)
	}
	var running, waiting, ok, failed, restarting int
	allReady := true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		var v containerView
		if initDone {
			v = w.view(ctx, pod, c, pc, sandboxID)
		} else {
			v = containerView{neverRan: true, status: api.ContainerStatus{Name: c.Name, Image: c.Image,
				State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}
		switch {
		case v.running:
			running++
		case v.neverRan, v.status.State.Waiting != nil && !v.terminated:
			waiting++
		case v.finalOK:
			ok++
		case v.finalFail:
			failed++
		default:
			restarting++
		}
		if !v.status.Ready {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, v.status)
	}
	switch {
	case initFailed:
		st.Phase = api.PodFailed
	case !initDone, waiting > 0:
		st.Phase = api.PodPending
	case running > 0, restarting > 0:
		st.Phase = api.PodRunning
	case failed > 0:
		st.Phase = api.PodFailed
	default:
		st.Phase = api.PodSucceeded
	}
	cond := func(t string, b bool, reason string) {
		s := api.ConditionFalse
		if b {
			s, reason = api.ConditionTrue, ""
		}
		api.SetCondition(&st.Conditions, api.Condition{Type: t, Status: s, Reason: reason})
	}
	ready := allReady && initDone && st.Phase == api.PodRunning
	cond(api.PodScheduled, true, "")
	cond(api.PodInitialized, initDone, "ContainersNotInitialized")
	cond(api.ContainersReady, ready, "ContainersNotReady")
	cond(api.PodReady, ready, "ContainersNotReady")
	return st
}

func qosClass(pod *api.Pod) string {
	requests, limits, guaranteed := false, false, true
	for _, c := range pod.Spec.Containers {
		for _, r := range []string{api.ResourceCPU, api.ResourceMemory} {
			rq, hasReq := c.Resources.Requests[r]
			lm, hasLim := c.Resources.Limits[r]
			requests = requests || hasReq
			limits = limits || hasLim
			if !hasLim || hasReq && rq.MilliValue() != lm.MilliValue() {
				guaranteed = false
			}
		}
	}
	switch {
	case guaranteed:
		return "Guaranteed"
	case requests || limits:
		return "Burstable"
	}
	return "BestEffort"
}

// writeStatus writes the pod's status when it changed.
func (w *podWorker) writeStatus(ctx context.Context, pod *api.Pod, pc podContainers, sandboxID, podIP string) {
	st := w.buildStatus(ctx, pod, pc, sandboxID, podIP)
	if podIP == "" && pod.Status.PodIP != "" && sandboxID != "" {
		st.PodIP, st.PodIPs = pod.Status.PodIP, pod.Status.PodIPs
	}
	b, _ := json.Marshal(st)
	if w.lastStatus == nil {
		w.lastStatus, _ = json.Marshal(pod.Status)
	}
	if bytes.Equal(b, w.lastStatus) {
		return
	}
	next := *pod
	next.Status = st
	began := time.Now()
	if _, err := w.rt.store.UpdateStatus(ctx, &next); err != nil {
		if !api.IsNotFound(err) {
			w.log.Warn("writing pod status failed", "err", err)
		}
		return
	}
	w.lastStatus = b
	w.step(StepStatus, began)
	if st.Phase == api.PodRunning && !w.running {
		w.running = true
		if o := w.rt.cfg.Observer; o != nil && pod.Status.Phase != api.PodRunning {
			o.PodStarted(time.Since(w.born))
		}
	}
	pod.Status = st
}
