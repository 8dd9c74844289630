package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
)

// instance is one container of the pod as the engine has it.
type instance struct {
	engine.Summary
	attempt int
}

// podContainers groups the pod's engine containers by container name, the
// newest attempt first.
type podContainers map[string][]instance

func (pc podContainers) latest(name string) *instance {
	if l := pc[name]; len(l) > 0 {
		return &l[0]
	}
	return nil
}

func (w *podWorker) listContainers(ctx context.Context) (podContainers, error) {
	cctx, cancel := w.rt.engineCtx(ctx)
	defer cancel()
	list, err := w.rt.eng.ListContainers(cctx, map[string]string{engine.LabelPodUID: w.key.uid})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	pc := podContainers{}
	for _, s := range list {
		a, _ := strconv.Atoi(s.Labels[engine.LabelAttempt])
		name := s.Labels[engine.LabelContainer]
		pc[name] = append(pc[name], instance{Summary: s, attempt: a})
	}
	for _, l := range pc {
		sort.Slice(l, func(i, j int) bool {
			if l[i].attempt != l[j].attempt {
				return l[i].attempt > l[j].attempt
			}
			return l[i].Created.After(l[j].Created)
		})
	}
	return pc, nil
}

// inspect returns the engine state of a container, from the cache when the
// container's state has not changed since (exited containers never change).
func (w *podWorker) inspect(ctx context.Context, in *instance) (engine.State, error) {
	if st, ok := w.inspected[in.ID]; ok && st.Status == in.State {
		return st, nil
	}
	cctx, cancel := w.rt.engineCtx(ctx)
	defer cancel()
	st, err := w.rt.eng.InspectContainer(cctx, in.ID)
	if err != nil {
		return st, err
	}
	w.inspected[in.ID] = st
	return st, nil
}

// sync moves the pod one step closer to its spec and reports its status.
// It returns when it wants to be called again at the latest.
func (w *podWorker) sync(ctx context.Context, pod *api.Pod) time.Duration {
	pc, err := w.listContainers(ctx)
	if err != nil {
		return w.failed(pod, "listing the pod's containers", err)
	}
	w.succeeded()
	next := w.rt.cfg.ResyncPeriod
	if w.diedButListedRunning(pc) {
		return 20 * time.Millisecond
	}
	if api.IsPodTerminal(pod) {
		if err := w.stopSandbox(ctx, pc); err != nil {
			return w.failed(pod, "stopping the sandbox of the finished pod", err)
		}
		// A finished pod gives its address back (its status keeps it), as
		// under Kubernetes: kept Jobs' pods must not exhaust the subnet.
		if !w.unwiredFinished {
			w.unwire(ctx)
			w.unwiredFinished = true
		}
		return next
	}
	var sandboxID, podIP string
	if w.soloPod(pod, pc) {
		podIP, err = w.soloAddress(pod)
	} else {
		sandboxID, podIP, err = w.ensureSandbox(ctx, pod, pc)
	}
	if err != nil {
		w.log.Warn("sandbox not ready", "err", err)
		w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailedCreatePodSandBox, "Failed to create pod sandbox: %v", err)
		w.writeStatus(ctx, pod, pc, "", "")
		return 3 * time.Second
	}
	began := time.Now()
	err = w.syncVolumes(ctx, pod)
	w.step(StepVolumes, began)
	if err != nil {
		w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailedMount, "%v", err)
		w.writeStatus(ctx, pod, pc, sandboxID, podIP)
		return 3 * time.Second
	}
	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		done, _, wait := w.syncInit(ctx, pod, c, pc, sandboxID, podIP)
		next = minPositive(next, wait)
		if !done {
			initDone = false
			break
		}
	}
	if initDone {
		for i := range pod.Spec.Containers {
			_, wait := w.syncApp(ctx, pod, &pod.Spec.Containers[i], pc, sandboxID, podIP)
			next = minPositive(next, wait)
		}
	}
	if w.isSolo() {
		if err := w.wireSolo(ctx, pod, pc); err != nil {
			w.log.Warn("pod not wired", "err", err)
			w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailedCreatePodSandBox, "Failed to connect the pod to the pod network: %v", err)
			next = minPositive(next, 3*time.Second)
		}
	}
	// Containers started above were added to pc by startContainer: no
	// second listing (one engine call per pod start saved).
	w.syncProbes(ctx, pod, pc, sandboxID, podIP)
	w.writeStatus(ctx, pod, pc, sandboxID, podIP)
	return next
}

func minPositive(a, b time.Duration) time.Duration {
	if b > 0 && b < a {
		return b
	}
	return a
}

// ensureSandbox makes sure the pod's sandbox runs, re-creating it (and with
// it every container) if it died or was removed.
func (w *podWorker) ensureSandbox(ctx context.Context, pod *api.Pod, pc podContainers) (string, string, error) {
	sb := pc.latest(engine.SandboxContainerName)
	if sb != nil && sb.State == "running" {
		st, err := w.inspect(ctx, sb)
		if err != nil {
			return "", "", err
		}
		ip, err := w.sandboxIP(ctx, pod, sb.ID, st)
		if err != nil {
			return "", "", err
		}
		return sb.ID, ip, nil
	}
	attempt := 0
	if sb != nil {
		attempt = sb.attempt + 1
		w.rt.rec.Eventf(pod, api.EventNormal, ReasonSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
	}
	// App containers in a dead sandbox's network namespace are stopped; they
	// start again in the new one.
	if sb != nil || hasRunning(pc) {
		if err := w.stopAll(ctx, pod, pc, 2*time.Second); err != nil {
			return "", "", fmt.Errorf("stop the containers of the old sandbox: %w", err)
		}
	}
	for _, old := range pc[engine.SandboxContainerName] {
		w.rt.reap(ctx, old.ID)
	}
	spec := w.sandboxSpec(pod, attempt)
	id, err := w.createAndStart(ctx, spec, StepSandboxCreate, StepSandboxStart)
	if err != nil {
		return "", "", fmt.Errorf("start sandbox: %w", err)
	}
	cctx, cancel := w.rt.engineCtx(ctx)
	defer cancel()
	began := time.Now()
	st, err := w.rt.eng.InspectContainer(cctx, id)
	if err != nil {
		return "", "", fmt.Errorf("inspect sandbox: %w", err)
	}
	w.step(StepSandboxInfo, began)
	w.inspected[id] = st
	pc[engine.SandboxContainerName] = []instance{{Summary: engine.Summary{ID: id, State: st.Status, Labels: spec.Labels, Created: time.Now()}, attempt: attempt}}
	ip, err := w.sandboxIP(ctx, pod, id, st)
	if err != nil {
		return "", "", err
	}
	return id, ip, nil
}

// sandboxIP is the pod's address: the node's for a pod on the host's
// network (as in Kubernetes), so that Services and Endpoints reach it;
// otherwise the one the wiring gave the sandbox, wiring it first if this
// worker has not yet (a new sandbox, or the first sync after an agent
// restart, which finds the interface in place and keeps it). A sandbox an
// older agent put on the engine network keeps the engine's address, which
// the wiring records so that no other pod gets it.
func (w *podWorker) sandboxIP(ctx context.Context, pod *api.Pod, sandboxID string, st engine.State) (string, error) {
	if pod.Spec.HostNetwork {
		return w.rt.cfg.HostIP, nil
	}
	wr := w.rt.cfg.Wiring
	if wr == nil {
		return st.IPAddress, nil
	}
	if st.IPAddress != "" {
		if ip, err := netip.ParseAddr(st.IPAddress); err == nil && w.wiredSandbox != sandboxID {
			if err := wr.Adopt(w.key.uid, ip); err != nil {
				w.log.Warn("recording the address of a sandbox on the old engine network failed", "addr", ip, "err", err)
			}
			w.wiredSandbox, w.wiredIP = sandboxID, ip
		}
		return st.IPAddress, nil
	}
	if w.wiredSandbox == sandboxID {
		return w.wiredIP.String(), nil
	}
	began := time.Now()
	defer w.step(StepWire, began)
	ip, err := w.attach(ctx, pod, st.Pid, true)
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	w.wiredSandbox, w.wiredIP = sandboxID, ip
	return ip.String(), nil
}

// attach connects the pod's namespace, held by the process pid, to the pod
// network and publishes the pod's host ports; with hostsEntry it also adds
// the pod's own name to its hosts file (a sandbox's: a pod without one has
// that line from its create).
func (w *podWorker) attach(ctx context.Context, pod *api.Pod, pid int, hostsEntry bool) (netip.Addr, error) {
	ip, err := w.rt.cfg.Wiring.Attach(ctx, w.key.uid, pid)
	if err != nil {
		return ip, fmt.Errorf("connect to the pod network: %w", err)
	}
	if add := w.rt.cfg.HostsEntry; add != nil && hostsEntry {
		if err := add(pid, ip, sandboxHostname(pod)); err != nil {
			return ip, fmt.Errorf("add the pod's own name to its hosts file: %w", err)
		}
	}
	if hp := w.rt.cfg.HostPorts; hp != nil {
		if err := hp.Set(ctx, w.key.uid, ip, hostPorts(pod)); err != nil {
			return ip, fmt.Errorf("publish the pod's host ports: %w", err)
		}
	}
	return ip, nil
}

// hostPorts lists the pod's published ports.
func hostPorts(pod *api.Pod) []podnet.HostPort {
	var out []podnet.HostPort
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				out = append(out, podnet.HostPort{Protocol: strings.ToLower(p.Protocol), HostIP: p.HostIP,
					HostPort: int(p.HostPort), ContainerPort: int(p.ContainerPort)})
			}
		}
	}
	return out
}

// unwire removes the pod's interface, address and host ports; what fails
// is left to the cleanup at the next resync.
func (w *podWorker) unwire(ctx context.Context) {
	if hp := w.rt.cfg.HostPorts; hp != nil {
		if err := hp.Remove(ctx, w.key.uid); err != nil {
			w.log.Warn("withdrawing the pod's host ports failed; tried again at the next resync", "err", err)
		}
	}
	if wr := w.rt.cfg.Wiring; wr != nil {
		if err := wr.Detach(ctx, w.key.uid); err != nil {
			w.log.Warn("disconnecting the pod from the pod network failed; tried again at the next resync", "err", err)
		}
	}
	w.wiredSandbox, w.wiredIP = "", netip.Addr{}
}

func hasRunning(pc podContainers) bool {
	for name, l := range pc {
		if name != engine.SandboxContainerName && len(l) > 0 && l[0].State == "running" {
			return true
		}
	}
	return false
}

// createAndStart creates a container, replacing a leftover of the same
// name, and starts it; the two calls are observed as the steps named.
func (w *podWorker) createAndStart(ctx context.Context, spec engine.ContainerSpec, createStep, startStep string) (string, error) {
	cctx, cancel := w.rt.engineCtx(ctx)
	defer cancel()
	began := time.Now()
	id, err := w.rt.eng.CreateContainer(cctx, spec)
	if errors.Is(err, engine.ErrConflict) {
		w.remove(ctx, spec.Name)
		id, err = w.rt.eng.CreateContainer(cctx, spec)
	}
	if err != nil {
		return "", err
	}
	w.step(createStep, began)
	began = time.Now()
	if err := w.rt.eng.StartContainer(cctx, id); err != nil {
		w.remove(ctx, id)
		return "", err
	}
	w.step(startStep, began)
	return id, nil
}

func (w *podWorker) remove(ctx context.Context, id string) {
	cctx, cancel := w.rt.engineCtx(ctx)
	defer cancel()
	if err := w.rt.eng.RemoveContainer(cctx, id); err != nil && !errors.Is(err, engine.ErrNotFound) {
		w.log.Warn("removing container failed", "container", id, "err", err)
	}
	delete(w.inspected, id)
}

// syncInit runs one init container to completion. It reports whether it
// has succeeded, whether it started something, and when to look again.
func (w *podWorker) syncInit(ctx context.Context, pod *api.Pod, c *api.Container, pc podContainers, sandboxID, podIP string) (bool, bool, time.Duration) {
	cur := pc.latest(c.Name)
	if cur != nil && cur.Labels[engine.LabelSandbox] == sandboxID {
		switch cur.State {
		case "running", "created", "restarting":
			return false, false, 0
		}
		st, err := w.inspect(ctx, cur)
		if err != nil {
			return false, false, time.Second
		}
		if st.ExitCode == 0 {
			return true, false, 0
		}
		if pod.Spec.RestartPolicy == api.RestartNever {
			return false, false, 0
		}
		if wait, ok := w.backedOff(c.Name, st); !ok {
			return false, false, wait
		}
		return false, w.startContainer(ctx, pod, c, pc, sandboxID, podIP, cur.attempt+1, &st), 0
	}
	attempt := 0
	if cur != nil {
		attempt = cur.attempt + 1
	}
	return false, w.startContainer(ctx, pod, c, pc, sandboxID, podIP, attempt, nil), 0
}

// syncApp keeps one app container running as the restart policy says.
func (w *podWorker) syncApp(ctx context.Context, pod *api.Pod, c *api.Container, pc podContainers, sandboxID, podIP string) (bool, time.Duration) {
	cur := pc.latest(c.Name)
	if cur == nil {
		return w.startContainer(ctx, pod, c, pc, sandboxID, podIP, 0, nil), 0
	}
	inSandbox := cur.Labels[engine.LabelSandbox] == sandboxID
	if why, kill := w.probes.takeKill(cur.ID); kill && cur.State == "running" {
		w.rt.rec.Eventf(pod, api.EventNormal, ReasonKilling, "Container %s %s, will be restarted", c.Name, why)
		if err := w.stopContainer(ctx, pod, cur, c.Name, gracePeriod(pod), why); err != nil {
			// Not restarted while the old one may run: tried again.
			w.probes.requeueKill(cur.ID, why)
			return false, w.failed(pod, "stopping container "+c.Name, err)
		}
		cur.State = "exited"
	}
	switch cur.State {
	case "running", "restarting", "paused":
		if inSandbox && cur.Labels[engine.LabelSpecHash] == containerHash(c) {
			delete(w.waiting, c.Name)
			return false, 0
		}
		why := "Container definition changed, will be restarted"
		if !inSandbox {
			why = "Pod sandbox changed, container will be restarted"
		}
		if err := w.stopContainer(ctx, pod, cur, c.Name, gracePeriod(pod), why); err != nil {
			// Never two of one container: the new one waits.
			return false, w.failed(pod, "stopping container "+c.Name, err)
		}
		return w.startContainer(ctx, pod, c, pc, sandboxID, podIP, cur.attempt+1, nil), 0
	case "created":
		if inSandbox {
			cctx, cancel := w.rt.engineCtx(ctx)
			defer cancel()
			err := w.rt.eng.StartContainer(cctx, cur.ID)
			if err == nil {
				return true, 0
			}
			w.log.Warn("starting a created container failed; it is made again", "container", c.Name, "err", err)
		}
		w.remove(ctx, cur.ID)
		return w.startContainer(ctx, pod, c, pc, sandboxID, podIP, cur.attempt+1, nil), 0
	}
	st, err := w.inspect(ctx, cur)
	if err != nil {
		return false, time.Second
	}
	if !inSandbox {
		// Ended in an old sandbox: always start it in the new one.
		return w.startContainer(ctx, pod, c, pc, sandboxID, podIP, cur.attempt+1, &st), 0
	}
	if !shouldRestart(pod.Spec.RestartPolicy, st.ExitCode) {
		return false, 0
	}
	if wait, ok := w.backedOff(c.Name, st); !ok {
		return false, wait
	}
	return w.startContainer(ctx, pod, c, pc, sandboxID, podIP, cur.attempt+1, &st), 0
}

func shouldRestart(policy string, exitCode int) bool {
	switch policy {
	case api.RestartAlways:
		return true
	case api.RestartOnFailure:
		return exitCode != 0
	}
	return false
}

// backedOff reports whether a crashed container may restart now; if not, it
// marks the container CrashLoopBackOff and says how long to wait.
func (w *podWorker) backedOff(name string, st engine.State) (time.Duration, bool) {
	p := w.rt.cfg.Backoff
	at := p.restartAt(w.backoff[name], st.StartedAt, st.FinishedAt)
	if wait := time.Until(at); wait > 0 {
		w.waiting[name] = api.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s", w.backoff[name].delay.Round(time.Second), name)}
		return wait, false
	}
	return 0, true
}

// startContainer pulls the image if needed, creates and starts one attempt
// of a container, and trims older attempts (the previous one is kept for
// `logs --previous`). It reports whether a container was started.
func (w *podWorker) startContainer(ctx context.Context, pod *api.Pod, c *api.Container, pc podContainers, sandboxID, podIP string, attempt int, crashed *engine.State) bool {
	began := time.Now()
	ok := w.ensureImage(ctx, pod, c)
	w.step(StepImage, began)
	if !ok {
		return false
	}
	spec, err := w.containerSpec(ctx, pod, c, sandboxID, podIP, attempt)
	if err != nil {
		w.waiting[c.Name] = api.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailed, "Error: %v", err)
		return false
	}
	for i, old := range pc[c.Name] {
		if i >= 1 { // keep the newest existing one as "previous"
			w.rt.reap(ctx, old.ID)
		}
	}
	id, err := w.createAndStart(ctx, spec, StepAppCreate, StepAppStart)
	if err != nil {
		w.waiting[c.Name] = api.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
		w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailed, "Error: %v", err)
		return false
	}
	if crashed != nil {
		w.backoff[c.Name] = w.rt.cfg.Backoff.next(w.backoff[c.Name], crashed.StartedAt, crashed.FinishedAt)
		w.rt.rec.Eventf(pod, api.EventNormal, ReasonRestarted, "Restarted container %s (exit code %d)", c.Name, crashed.ExitCode)
		if o := w.rt.cfg.Observer; o != nil {
			o.ContainerRestarted()
		}
	} else {
		w.rt.rec.Eventf(pod, api.EventNormal, ReasonStarted, "Started container %s", c.Name)
	}
	w.log.Debug("container started", "container", c.Name, "attempt", attempt, "id", id)
	delete(w.waiting, c.Name)
	// The status reads it from pc, newest attempt first, as a listing
	// would show it; its state comes from an inspect.
	pc[c.Name] = append([]instance{{Summary: engine.Summary{ID: id, State: "running", Labels: spec.Labels, Created: time.Now()},
		attempt: attempt}}, pc[c.Name]...)
	return true
}

// ensureImage applies the pull policy. Offline hosts are common, so with
// policy Always a failed pull falls back to a local copy, with a warning.
func (w *podWorker) ensureImage(ctx context.Context, pod *api.Pod, c *api.Container) bool {
	if c.ImagePullPolicy != api.PullAlways && w.rt.present.recent("image:"+c.Image) {
		return true
	}
	cctx, cancel := w.rt.engineCtx(ctx)
	defer cancel()
	present, err := w.rt.eng.ImageExists(cctx, c.Image)
	if err != nil {
		w.waiting[c.Name] = api.ContainerStateWaiting{Reason: "ErrImageInspect", Message: err.Error()}
		return false
	}
	if present && c.ImagePullPolicy != api.PullAlways {
		w.rt.present.mark("image:" + c.Image)
		if w.rt.cfg.Peers != nil {
			if from, took := w.rt.cfg.Peers.CopiedFrom(c.Image); from != "" {
				w.rt.rec.Eventf(pod, api.EventNormal, ReasonPulled, "Successfully copied image %q from node %s in %s", c.Image, from, took.Round(time.Millisecond))
			}
		}
		return true
	}
	if !present && c.ImagePullPolicy == api.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		w.waiting[c.Name] = api.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: msg}
		w.rt.rec.Eventf(pod, api.EventWarning, ReasonErrImageNeverPull, "%s", msg)
		return false
	}
	if prev, ok := w.waiting[c.Name]; ok && (prev.Reason == "ErrImagePull" || prev.Reason == "ImagePullBackOff") {
		if e := w.backoff["pull:"+c.Image]; e != nil && time.Since(w.pullFailed[c.Image]) < e.delay {
			w.waiting[c.Name] = api.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}
			return false
		}
	}
	start := time.Now()
	pctx, pcancel := context.WithTimeout(ctx, w.rt.cfg.PullTimeout)
	defer pcancel()
	if !present && w.rt.cfg.Peers != nil {
		from, err := w.rt.cfg.Peers.FetchFromPeer(pctx, c.Image)
		switch {
		case err == nil && from != "":
			w.rt.rec.Eventf(pod, api.EventNormal, ReasonPulled, "Successfully copied image %q from node %s in %s", c.Image, from, time.Since(start).Round(time.Millisecond))
			w.rt.present.mark("image:" + c.Image)
			delete(w.backoff, "pull:"+c.Image)
			return true
		case err != nil:
			w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailed, "Copying image %q from another node failed (%v); pulling it from its registry", c.Image, err)
		}
	}
	w.rt.rec.Eventf(pod, api.EventNormal, ReasonPulling, "Pulling image %q", c.Image)
	err = w.rt.eng.PullImage(pctx, c.Image)
	if err == nil {
		w.rt.rec.Eventf(pod, api.EventNormal, ReasonPulled, "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
		w.rt.present.mark("image:" + c.Image)
		delete(w.backoff, "pull:"+c.Image)
		return true
	}
	if present {
		w.rt.rec.Eventf(pod, api.EventWarning, ReasonPulled, "Pulling image %q failed (%v); using the local copy", c.Image, err)
		return true
	}
	w.rt.rec.Eventf(pod, api.EventWarning, ReasonFailed, "Failed to pull image %q: %v", c.Image, err)
	w.waiting[c.Name] = api.ContainerStateWaiting{Reason: "ErrImagePull", Message: fmt.Sprintf("failed to pull image %q: %v", c.Image, err)}
	w.backoff["pull:"+c.Image] = w.rt.cfg.Backoff.next(w.backoff["pull:"+c.Image], time.Now(), time.Now())
	w.pullFailed[c.Image] = time.Now()
	return false
}

func gracePeriod(pod *api.Pod) time.Duration {
	if pod == nil {
		return 2 * time.Second
	}
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// stopContainer stops one container within its grace period; one already
// gone is stopped.
func (w *podWorker) stopContainer(ctx context.Context, pod *api.Pod, in *instance, name string, grace time.Duration, why string) error {
	if pod != nil {
		w.rt.rec.Eventf(pod, api.EventNormal, ReasonKilling, "Stopping container %s: %s", name, why)
	}
	cctx, cancel := context.WithTimeout(ctx, grace+w.rt.cfg.EngineTimeout)
	defer cancel()
	if err := w.rt.eng.StopContainer(cctx, in.ID, grace); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("stop container %s: %w", name, err)
	}
	return nil
}

// stopAll stops every running app container of the pod in parallel (the
// sandbox needs no grace: it goes with the forced removal). It returns
// the failures, joined.
func (w *podWorker) stopAll(ctx context.Context, pod *api.Pod, pc podContainers, grace time.Duration) error {
	done := make(chan error)
	n := 0
	for name, l := range pc {
		if name == engine.SandboxContainerName {
			continue
		}
		for i := range l {
			if l[i].State != "running" && l[i].State != "restarting" && l[i].State != "paused" {
				continue
			}
			n++
			go func(in *instance, name string) {
				done <- w.stopContainer(ctx, pod, in, name, grace, "pod is being removed")
			}(&l[i], name)
		}
	}
	var errs []error
	for ; n > 0; n-- {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopSandbox stops the pod's running sandboxes (a finished pod's).
func (w *podWorker) stopSandbox(ctx context.Context, pc podContainers) error {
	var errs []error
	for _, sb := range pc[engine.SandboxContainerName] {
		if sb.State == "running" {
			cctx, cancel := w.rt.engineCtx(ctx)
			err := w.rt.eng.StopContainer(cctx, sb.ID, time.Second)
			cancel()
			if err != nil && !errors.Is(err, engine.ErrNotFound) {
				errs = append(errs, fmt.Errorf("stop sandbox %s: %w", sb.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// terminate stops and removes all of the pod's containers and its files,
// then, if the pod was being deleted, removes it from the store. It reports
// whether it is done, and if not when to try again: the record is removed
// only once nothing of the pod runs, so a failing engine keeps it
// Terminating (until the node's unreadiness gets it evicted).
func (w *podWorker) terminate(ctx context.Context, pod *api.Pod, gone bool) (bool, time.Duration) {
	w.probes.stop(nil)
	pc, err := w.listContainers(ctx)
	if err != nil {
		return false, w.failed(pod, "listing the containers of the terminating pod", err)
	}
	grace := gracePeriod(pod)
	if pod != nil && pod.DeletionTimestamp != nil {
		if left := time.Until(pod.DeletionTimestamp.Time); left < grace {
			grace = max(left, 0)
		}
	}
	if gone && pod != nil && pod.DeletionTimestamp == nil {
		grace = min(grace, 2*time.Second)
	}
	// The app containers get their grace period; the sandbox needs none and
	// goes with the forced removal below.
	if err := w.stopAll(ctx, pod, pc, grace); err != nil {
		if ctx.Err() != nil {
			return false, 0
		}
		return false, w.failed(pod, "stopping the containers of the terminating pod", err)
	}
	if ctx.Err() != nil {
		return false, 0
	}
	// Once nothing runs, the pod may go: the controllers need not wait for
	// the engine to remove the stopped containers (which a crash here would
	// leave to the orphan collection).
	if pod != nil && pod.DeletionTimestamp != nil && pod.Spec.NodeName == w.rt.cfg.NodeName {
		_, err := w.rt.store.Delete(ctx, api.KindPod, pod.Namespace, pod.Name,
			api.DeleteOptions{GracePeriodSeconds: api.Int64(0), UID: pod.UID})
		if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
			return false, w.failed(pod, "removing the terminated pod", err)
		}
	}
	w.succeeded()
	w.unwire(ctx)
	// Removal is not urgent: the runtime's reaper does it one container at a
	// time, so that a rollout's removals do not slow its new containers.
	for _, l := range pc {
		for _, in := range l {
			w.rt.reap(ctx, in.ID)
			delete(w.inspected, in.ID)
		}
	}
	if err := w.removeVolumes(); err != nil {
		// The directory stays; the orphan collection finds it at the next
		// resync and tries again.
		w.log.Warn("removing pod volumes failed; tried again at the next resync", "err", err)
	}
	w.log.Debug("pod terminated")
	return true, 0
}

// syncProbes runs the probes of the running app containers in the current
// sandbox and stops those of containers that are gone.
func (w *podWorker) syncProbes(ctx context.Context, pod *api.Pod, pc podContainers, sandboxID, podIP string) {
	keep := map[string]string{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := pc.latest(c.Name)
		if cur == nil || cur.State != "running" || cur.Labels[engine.LabelSandbox] != sandboxID {
			continue
		}
		keep[c.Name] = cur.ID
		w.probes.ensure(ctx, pod, c, cur.ID, podIP)
	}
	w.probes.stop(keep)
}
