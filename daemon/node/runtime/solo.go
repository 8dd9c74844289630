package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
)

// A pod of one container and no init containers runs without a sandbox
// when the agent has the network gate (Config.NetWaitPath): its container
// holds the pod's namespaces itself, on the engine's network mode "none",
// and the agent wires it right after the start while the gate holds the
// pod's command back until the default route exists. One container per
// pod instead of two: a pod costs the engine what a container costs.
// Pods with several containers keep a sandbox, which their containers
// join; a pod started with a sandbox (by an older agent) keeps it.

// soloPod reports whether the pod runs without a sandbox. The answer is
// kept for the worker's life, so that a sandbox removed and not yet made
// again does not turn the pod into one without.
func (w *podWorker) soloPod(pod *api.Pod, pc podContainers) bool {
	if w.solo == nil {
		ok := w.rt.cfg.NetWaitPath != "" && w.rt.cfg.Wiring != nil &&
			len(pod.Spec.Containers) == 1 && len(pod.Spec.InitContainers) == 0 &&
			len(pc[engine.SandboxContainerName]) == 0 && !canRemount(&pod.Spec.Containers[0])
		w.solo = &ok
	}
	return *w.solo
}

// canRemount reports whether a container may change its mounts
// (privileged, or given CAP_SYS_ADMIN): it could make its read-only mount
// of the gate writable and change the file every pod of the node starts
// through, so it keeps a sandbox.
func canRemount(c *api.Container) bool {
	sc := c.SecurityContext
	if sc == nil {
		return false
	}
	if sc.Privileged != nil && *sc.Privileged {
		return true
	}
	if sc.Capabilities != nil {
		for _, name := range sc.Capabilities.Add {
			switch strings.TrimPrefix(strings.ToUpper(name), "CAP_") {
			case "SYS_ADMIN", "ALL":
				return true
			}
		}
	}
	return false
}

// isSolo reports the decision soloPod made.
func (w *podWorker) isSolo() bool { return w.solo != nil && *w.solo }

// soloAddress is the address of a pod without a sandbox, known before its
// container is created (for status.podIP in its environment) and kept
// across its container's restarts.
func (w *podWorker) soloAddress(pod *api.Pod) (string, error) {
	if pod.Spec.HostNetwork {
		return w.rt.cfg.HostIP, nil
	}
	ip, err := w.rt.cfg.Wiring.Reserve(w.key.uid)
	if err != nil {
		return "", fmt.Errorf("reserve the pod's address: %w", err)
	}
	return ip.String(), nil
}

// wireSolo connects the running container of a pod without a sandbox to
// the pod network, once per container (each restart is a new container
// and a new network namespace; after an agent restart the wiring finds
// the interface in place and keeps it), and then wakes the gate. A
// container that cannot be wired is removed: its command would never run.
func (w *podWorker) wireSolo(ctx context.Context, pod *api.Pod, pc podContainers) error {
	if pod.Spec.HostNetwork {
		return nil
	}
	name := pod.Spec.Containers[0].Name
	cur := pc.latest(name)
	if cur == nil || cur.State != "running" || cur.Labels[engine.LabelSandbox] != "" || w.wiredSandbox == cur.ID {
		return nil
	}
	st, err := w.inspect(ctx, cur)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", name, err)
	}
	if !st.Running {
		return nil
	}
	began := time.Now()
	// The pod's own name is in its hosts file from the create
	// (soloNamespaces): a read-only root file system makes the engine
	// mount that file read-only, so it could not be added now.
	ip, err := w.attach(ctx, pod, st.Pid, false)
	if err != nil {
		w.remove(ctx, cur.ID)
		pc[name] = pc[name][1:]
		return fmt.Errorf("container %s: %w", name, err)
	}
	w.step(StepWire, began)
	w.wiredSandbox, w.wiredIP = cur.ID, ip
	if wake := w.rt.cfg.WakeGate; wake != nil {
		wake(st.Pid)
	}
	return nil
}

// soloNamespaces gives the container of a pod without a sandbox what a
// sandbox would have given it: host name (with its address in the hosts
// file), network mode, DNS settings, sysctls, and the gate as its
// entrypoint in front of argv.
func (w *podWorker) soloNamespaces(pod *api.Pod, spec *engine.ContainerSpec, podIP string, argv []string) {
	spec.IPCMode, spec.PIDMode = "", ""
	sandboxNamespaces(w.rt, pod, spec)
	if pod.Spec.HostNetwork {
		return
	}
	spec.ExtraHosts = []string{sandboxHostname(pod) + ":" + podIP}
	spec.Entrypoint, spec.Cmd = []string{sandbox.NetWaitMount}, argv
	spec.Mounts = append(spec.Mounts, engine.Mount{Type: "bind", Source: w.rt.cfg.NetWaitPath, Target: sandbox.NetWaitMount, ReadOnly: true})
}

// argv is the command a container runs, by Kubernetes' rules: command
// replaces the image's ENTRYPOINT (and drops its CMD), args replace its
// CMD.
func argv(c *api.Container, img engine.ImageInfo) []string {
	switch {
	case c.Command != nil:
		return append(append([]string{}, c.Command...), c.Args...)
	case c.Args != nil:
		return append(append([]string{}, img.Entrypoint...), c.Args...)
	}
	return append(append([]string{}, img.Entrypoint...), img.Cmd...)
}

// imageInfoTTL is how long an image's configuration (its ENTRYPOINT, CMD
// and USER) is reused without asking the engine again: long enough that
// the pods of one rollout ask once, short enough that an image built again
// under the same name is seen by the next pod.
const imageInfoTTL = 2 * time.Second

// imageInfos caches images' configurations by reference; the pods of a
// rollout that miss it together make one inspect.
type imageInfos struct {
	mu     sync.Mutex
	seen   map[string]imageInfo
	flight singleflight.Group
}

type imageInfo struct {
	info engine.ImageInfo
	at   time.Time
}

// imageInfo is the image's configuration, from the cache while it is
// recent.
func (w *podWorker) imageInfo(ctx context.Context, ref string) (engine.ImageInfo, error) {
	ic := &w.rt.images
	ic.mu.Lock()
	e, ok := ic.seen[ref]
	ic.mu.Unlock()
	if ok && time.Since(e.at) < imageInfoTTL {
		return e.info, nil
	}
	v, err, _ := ic.flight.Do(ref, func() (any, error) {
		cctx, cancel := w.rt.engineCtx(ctx)
		defer cancel()
		info, err := w.rt.eng.InspectImage(cctx, ref)
		if err != nil {
			return info, fmt.Errorf("inspect image %s: %w", ref, err)
		}
		ic.mu.Lock()
		if len(ic.seen) >= 1024 {
			clear(ic.seen)
		}
		ic.seen[ref] = imageInfo{info: info, at: time.Now()}
		ic.mu.Unlock()
		return info, nil
	})
	return v.(engine.ImageInfo), err
}

// commandOf is the container's command line, read from its image when
// the spec does not give it whole.
func (w *podWorker) commandOf(ctx context.Context, c *api.Container) ([]string, error) {
	var img engine.ImageInfo
	if c.Command == nil {
		var err error
		if img, err = w.imageInfo(ctx, c.Image); err != nil {
			return nil, fmt.Errorf("the command of container %s: %w", c.Name, err)
		}
	}
	cmd := argv(c, img)
	if len(cmd) == 0 {
		return nil, fmt.Errorf("container %s has no command: image %s sets neither ENTRYPOINT nor CMD; give the container a command", c.Name, c.Image)
	}
	return cmd, nil
}
