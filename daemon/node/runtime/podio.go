package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ErrNotHere is returned for a pod that this node does not run.
type ErrNotHere struct{ Node string }

func (e *ErrNotHere) Error() string { return "the pod runs on node " + e.Node }

// findContainer resolves the pod and the engine container of one of its
// containers: the current one, or the one before it with previous.
func (r *Runtime) findContainer(ctx context.Context, ns, name, container string, previous bool) (*api.Pod, string, error) {
	obj, err := r.store.Get(ctx, api.KindPod, ns, name)
	if err != nil {
		return nil, "", err
	}
	pod := obj.(*api.Pod)
	if pod.Spec.NodeName != r.cfg.NodeName {
		if pod.Spec.NodeName == "" {
			return pod, "", api.NewBadRequest(fmt.Sprintf("pod %s is not scheduled to a node yet", name))
		}
		return pod, "", &ErrNotHere{Node: pod.Spec.NodeName}
	}
	if container == "" {
		if len(pod.Spec.Containers) != 1 {
			names := make([]string, len(pod.Spec.Containers))
			for i, c := range pod.Spec.Containers {
				names[i] = c.Name
			}
			return pod, "", api.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", name, strings.Join(names, " ")))
		}
		container = pod.Spec.Containers[0].Name
	}
	known := false
	for _, c := range append(append([]api.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		known = known || c.Name == container
	}
	if !known {
		return pod, "", api.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, name))
	}
	cctx, cancel := r.engineCtx(ctx)
	defer cancel()
	list, err := r.eng.ListContainers(cctx, map[string]string{engine.LabelPodUID: pod.UID, engine.LabelContainer: container})
	if err != nil {
		return pod, "", fmt.Errorf("list containers: %w", err)
	}
	best, second := -1, -1
	for i, c := range list {
		a, _ := strconv.Atoi(c.Labels[engine.LabelAttempt])
		if best < 0 || a > attemptOf(list[best]) {
			second, best = best, i
		} else if second < 0 || a > attemptOf(list[second]) {
			second = i
		}
	}
	pick := best
	if previous {
		pick = second
	}
	if pick < 0 {
		what := "container " + container
		if previous {
			what = "previous terminated container " + container
		}
		return pod, "", api.NewBadRequest(fmt.Sprintf("%s in pod %s not found (is it still starting?)", what, name))
	}
	return pod, list[pick].ID, nil
}

func attemptOf(s engine.Summary) int {
	a, _ := strconv.Atoi(s.Labels[engine.LabelAttempt])
	return a
}

// Logs streams a container's log of a pod on this node.
func (r *Runtime) Logs(ctx context.Context, ns, name string, opts api.LogOptions, w io.Writer) error {
	_, id, err := r.findContainer(ctx, ns, name, opts.Container, opts.Previous)
	if err != nil {
		return err
	}
	lo := engine.LogOptions{Follow: opts.Follow, Timestamps: opts.Timestamps, Tail: "all"}
	if opts.TailLines != nil {
		lo.Tail = strconv.FormatInt(*opts.TailLines, 10)
	}
	if opts.SinceTime != nil {
		lo.Since = opts.SinceTime.Time
	}
	rc, err := r.eng.Logs(ctx, id, lo)
	if err != nil {
		return fmt.Errorf("container logs: %w", err)
	}
	defer rc.Close()
	if opts.LimitBytes != nil {
		// The limit ends the stream, even a followed one: the client
		// asked for no more.
		_, err = io.CopyN(w, rc, *opts.LimitBytes)
		if err == io.EOF {
			err = nil
		}
		return err
	}
	_, err = io.Copy(w, rc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Exec runs a command in a running container of a pod on this node.
func (r *Runtime) Exec(ctx context.Context, ns, name string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
	_, id, err := r.findContainer(ctx, ns, name, opts.Container, false)
	if err != nil {
		return -1, err
	}
	sess, err := r.eng.Exec(ctx, id, engine.ExecConfig{Cmd: opts.Command, Stdin: stdin != nil,
		Stdout: true, Stderr: !opts.TTY, TTY: opts.TTY})
	if err != nil {
		return -1, api.NewBadRequest(fmt.Sprintf("cannot exec in container of pod %s: %v", name, err))
	}
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.TTY {
		go r.resizeLoop(ectx, ns+"/"+name, sess.Resize, resize)
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	return sess.Stream(ectx, stdin, stdout, stderr)
}

// resizeLoop applies the terminal sizes the client sends until ctx ends.
func (r *Runtime) resizeLoop(ctx context.Context, pod string, apply func(ctx context.Context, w, h uint) error, resize <-chan api.TerminalSize) {
	if resize == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-resize:
			if !ok {
				return
			}
			if err := apply(ctx, uint(sz.Width), uint(sz.Height)); err != nil && ctx.Err() == nil {
				// The session goes on in the old size.
				r.log.Debug("resizing a terminal failed", "pod", pod, "err", err)
			}
		}
	}
}

// Attach joins the streams of the main process of a running container of
// a pod on this node. The terminal is the container's own (its tty field):
// with one, everything arrives on stdout.
func (r *Runtime) Attach(ctx context.Context, ns, name string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) error {
	att, ok := r.eng.(engine.Attacher)
	if !ok {
		return api.NewUnavailable("this node's container engine does not attach to containers")
	}
	_, id, err := r.findContainer(ctx, ns, name, opts.Container, false)
	if err != nil {
		return err
	}
	sess, err := att.Attach(ctx, id, engine.AttachConfig{Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil})
	if err != nil {
		return api.NewBadRequest(fmt.Sprintf("cannot attach to container of pod %s: %v", name, err))
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	if sess.TTY() {
		go r.resizeLoop(actx, ns+"/"+name, sess.Resize, resize)
	}
	return sess.Stream(actx, stdin, stdout, stderr)
}

// DialPod connects to a port of a pod on this node, at the pod's address
// (kubectl port-forward).
func (r *Runtime) DialPod(ctx context.Context, ns, name string, port uint16) (net.Conn, error) {
	obj, err := r.store.Get(ctx, api.KindPod, ns, name)
	if err != nil {
		return nil, err
	}
	pod := obj.(*api.Pod)
	if pod.Spec.NodeName != r.cfg.NodeName {
		if pod.Spec.NodeName == "" {
			return nil, api.NewBadRequest(fmt.Sprintf("pod %s is not scheduled to a node yet", name))
		}
		return nil, &ErrNotHere{Node: pod.Spec.NodeName}
	}
	ip, err := r.podAddress(ctx, pod)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		return nil, fmt.Errorf("connect to port %d of pod %s: %w", port, name, err)
	}
	return conn, nil
}

// podAddress is the address of the pod's running sandbox (or only
// container) as the engine or the agent's own address manager reports it
// (not the pod's status, which an API client with the rights could
// write: the agent must not dial where a status points), or the node's for
// a pod on the host's network.
func (r *Runtime) podAddress(ctx context.Context, pod *api.Pod) (string, error) {
	if pod.Spec.HostNetwork {
		return r.cfg.HostIP, nil
	}
	cctx, cancel := r.engineCtx(ctx)
	defer cancel()
	list, err := r.eng.ListContainers(cctx, map[string]string{engine.LabelPodUID: pod.UID})
	if err != nil {
		return "", fmt.Errorf("list the pod's containers: %w", err)
	}
	for _, c := range list {
		// The container holding the pod's network: its sandbox, or its
		// only container (whose sandbox label is empty).
		if c.State != "running" || c.Labels[engine.LabelSandbox] != "" {
			continue
		}
		st, err := r.eng.InspectContainer(cctx, c.ID)
		if err != nil || !st.Running {
			continue
		}
		if st.IPAddress != "" {
			return st.IPAddress, nil
		}
		if r.cfg.Wiring != nil {
			if ip, ok := r.cfg.Wiring.Address(pod.UID); ok {
				return ip.String(), nil
			}
		}
	}
	return "", api.NewBadRequest(fmt.Sprintf("pod %s has no running sandbox with an address yet (phase %s); wait until it runs", pod.Name, pod.Status.Phase))
}
