package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// probeKind names the three probes.
type probeKind string

const (
	probeStartup   probeKind = "Startup"
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
)

// containerProbes holds the probe state of one container instance. Its
// goroutines are owned by the pod worker: they stop when the instance is
// replaced, the pod is removed, or the agent stops.
type containerProbes struct {
	id      string
	cancel  context.CancelFunc
	ready   bool // readiness: true without a readiness probe
	started bool // startup: true without a startup probe
	// startedCh is closed when the startup probe first succeeds.
	startedCh chan struct{}
}

// prober runs the probes of one pod's containers.
type prober struct {
	w  *podWorker
	mu sync.Mutex
	// by container name
	probes map[string]*containerProbes
	// kill requests from liveness and startup probes, by container id
	kill map[string]string
}

func newProber(w *podWorker) *prober {
	return &prober{w: w, probes: map[string]*containerProbes{}, kill: map[string]string{}}
}

// ensure starts the probes of a running container instance, replacing those
// of an earlier instance.
func (p *prober) ensure(ctx context.Context, pod *api.Pod, c *api.Container, id, podIP string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.probes[c.Name]; cur != nil {
		if cur.id == id {
			return
		}
		cur.cancel()
	}
	if c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil {
		delete(p.probes, c.Name)
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	cp := &containerProbes{id: id, cancel: cancel, ready: c.ReadinessProbe == nil,
		started: c.StartupProbe == nil, startedCh: make(chan struct{})}
	if cp.started {
		close(cp.startedCh)
	}
	p.probes[c.Name] = cp
	target := probeTarget{eng: p.w.rt.eng, containerID: id, podIP: podIP, ports: c.Ports}
	if pod.Spec.HostNetwork {
		target.podIP = "127.0.0.1"
	}
	for _, pr := range []struct {
		kind  probeKind
		probe *api.Probe
	}{{probeStartup, c.StartupProbe}, {probeLiveness, c.LivenessProbe}, {probeReadiness, c.ReadinessProbe}} {
		if pr.probe == nil {
			continue
		}
		p.w.probeWG.Add(1)
		go func(kind probeKind, probe *api.Probe) {
			defer p.w.probeWG.Done()
			p.loop(pctx, pod, cp, kind, probe, target)
		}(pr.kind, pr.probe)
	}
}

// stop ends the probes of containers not in keep (name -> running id).
func (p *prober) stop(keep map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, cp := range p.probes {
		if keep[name] != cp.id {
			cp.cancel()
			delete(p.probes, name)
		}
	}
}

// state reports the readiness and the started state of a container instance.
func (p *prober) state(name, id string) (ready, started bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := p.probes[name]
	if cp == nil || cp.id != id {
		return true, true
	}
	return cp.ready && cp.started, cp.started
}

// requeueKill asks again for a kill that could not be done.
func (p *prober) requeueKill(id, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kill[id] = why
}

// takeKill returns why a container instance must be killed, if it must.
func (p *prober) takeKill(id string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	why, ok := p.kill[id]
	delete(p.kill, id)
	return why, ok
}

// loop probes on the probe's schedule and acts on the thresholds.
func (p *prober) loop(ctx context.Context, pod *api.Pod, cp *containerProbes, kind probeKind, probe *api.Probe, t probeTarget) {
	if kind != probeStartup {
		select {
		case <-ctx.Done():
			return
		case <-cp.startedCh:
		}
	}
	if !sleepCtx(ctx, time.Duration(probe.InitialDelaySeconds)*time.Second) {
		return
	}
	period := time.Duration(max(probe.PeriodSeconds, 1)) * time.Second
	successes, failures := 0, 0
	for {
		err := t.run(ctx, probe)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			p.w.rt.rec.Eventf(pod, api.EventWarning, ReasonUnhealthy, "%s probe failed: %v", kind, err)
		}
		changed, done := p.record(cp, kind, probe, successes, failures, err)
		if changed {
			p.w.poke()
		}
		if done {
			return
		}
		if !sleepCtx(ctx, period) {
			return
		}
	}
}

// record applies one result. It reports whether the container's state
// changed (the worker should look) and whether this probe is done.
func (p *prober) record(cp *containerProbes, kind probeKind, probe *api.Probe, successes, failures int, err error) (changed, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch kind {
	case probeStartup:
		if successes >= 1 && !cp.started {
			cp.started = true
			close(cp.startedCh)
			return true, true // startup probes stop once they succeed
		}
		if failures >= int(probe.FailureThreshold) {
			p.kill[cp.id] = fmt.Sprintf("failed startup probe: %v", err)
			return true, true
		}
	case probeLiveness:
		if failures >= int(probe.FailureThreshold) {
			p.kill[cp.id] = fmt.Sprintf("failed liveness probe: %v", err)
			return true, true
		}
	case probeReadiness:
		switch {
		case successes >= int(probe.SuccessThreshold) && !cp.ready:
			cp.ready = true
			return true, false
		case failures >= int(probe.FailureThreshold) && cp.ready:
			cp.ready = false
			return true, false
		}
	}
	return false, false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// probeTarget is where a container's probes go.
type probeTarget struct {
	eng         engine.Engine
	containerID string
	podIP       string
	ports       []api.ContainerPort
}

// errProbe marks a probe that ran and failed (as opposed to one that could
// not be run).
var errProbe = errors.New("probe failed")

func (t probeTarget) port(p api.IntOrString) (int, error) {
	if !p.IsString {
		return int(p.IntVal), nil
	}
	for _, cp := range t.ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}

func (t probeTarget) run(ctx context.Context, p *api.Probe) error {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		return t.exec(ctx, p.Exec.Command)
	case p.HTTPGet != nil:
		return t.httpGet(ctx, p.HTTPGet, timeout)
	case p.TCPSocket != nil:
		port, err := t.port(p.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = t.podIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("%w: dial tcp %s:%d: %v", errProbe, host, port, err)
		}
		return conn.Close()
	}
	return errors.New("probe has no handler")
}

func (t probeTarget) exec(ctx context.Context, cmd []string) error {
	sess, err := t.eng.Exec(ctx, t.containerID, engine.ExecConfig{Cmd: cmd, Stdout: true, Stderr: true})
	if err != nil {
		return fmt.Errorf("exec %v: %w", cmd, err)
	}
	var out strings.Builder
	code, err := sess.Stream(ctx, strings.NewReader(""), &limitWriter{w: &out, n: 1024}, &limitWriter{w: &out, n: 1024})
	if ctx.Err() != nil {
		return fmt.Errorf("%w: command %v timed out", errProbe, cmd)
	}
	if err != nil {
		return fmt.Errorf("exec %v: %w", cmd, err)
	}
	if code != 0 {
		return fmt.Errorf("%w: command %v exited with %d: %s", errProbe, cmd, code, strings.TrimSpace(out.String()))
	}
	return nil
}

func (t probeTarget) httpGet(ctx context.Context, g *api.HTTPGetAction, timeout time.Duration) error {
	port, err := t.port(g.Port)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = t.podIP
	}
	scheme := strings.ToLower(g.Scheme)
	if scheme == "" {
		scheme = "http"
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), g.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "shoal-probe/1.0")
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: Get %q: %v", errProbe, url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%w: HTTP probe failed with statuscode: %d", errProbe, resp.StatusCode)
	}
	return nil
}

// limitWriter keeps the first n bytes of probe output for the event message.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
