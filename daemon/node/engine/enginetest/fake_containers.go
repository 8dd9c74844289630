package enginetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

type fakeContainer struct {
	state   engine.State
	spec    engine.ContainerSpec
	script  Script // chosen at create from the image's scripts
	created time.Time
	seq     int // creation order

	run    int           // counts starts, so a stale exit timer is ignored
	timer  *time.Timer   // ends the current run after Script.RunFor
	exited chan struct{} // closed when the current run ends

	logs        []byte
	logsChanged chan struct{} // closed and replaced on every append
}

func (f *Fake) CreateContainer(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	f.record("CreateContainer", spec.Name, spec.Image)
	if err := f.hold(ctx, "CreateContainer"); err != nil {
		return "", err
	}
	if f.CreateContainerFn != nil {
		return f.CreateContainerFn(ctx, spec)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return "", err
	}
	if spec.Name != "" && f.lookupLocked(spec.Name) != nil {
		return "", fmt.Errorf("create container %s: name in use: %w", spec.Name, engine.ErrConflict)
	}
	ref := normalizeRef(spec.Image)
	if !f.images[ref] {
		return "", fmt.Errorf("create container %s: no image %s: %w", spec.Name, spec.Image, engine.ErrImageNotFound)
	}
	script, ok := f.containerScripts[spec.Name]
	if !ok || spec.Name == "" {
		script = f.nextImageScriptLocked(ref)
	}
	if script.CreateErr != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, script.CreateErr)
	}

	f.seq++
	id := fakeID("container/" + strconv.Itoa(f.seq))
	name := spec.Name
	if name == "" {
		name = "fake_" + id[:12]
	}
	now := time.Now()
	c := &fakeContainer{
		state: engine.State{
			ID: id, Name: name, Image: spec.Image, ImageID: "sha256:" + fakeID("image/"+ref),
			Labels: maps.Clone(spec.Labels), Status: "created",
		},
		spec:        spec,
		script:      script,
		created:     now,
		seq:         f.seq,
		exited:      closedChan(),
		logsChanged: make(chan struct{}),
	}
	f.containers[id] = c
	f.emitLocked(c, "create", nil)
	return id, nil
}

func (f *Fake) nextImageScriptLocked(ref string) Script {
	scripts := f.imageScripts[ref]
	if len(scripts) == 0 {
		return Script{}
	}
	n := f.imageScriptUses[ref]
	f.imageScriptUses[ref] = n + 1
	return scripts[min(n, len(scripts)-1)]
}

func (f *Fake) StartContainer(ctx context.Context, id string) error {
	f.record("StartContainer", id)
	if err := f.hold(ctx, "StartContainer"); err != nil {
		return err
	}
	if f.StartContainerFn != nil {
		return f.StartContainerFn(ctx, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	c := f.lookupLocked(id)
	if c == nil {
		return fmt.Errorf("start container %s: %w", id, engine.ErrNotFound)
	}
	if c.state.Running {
		return nil
	}
	script := f.scriptLocked(c)
	if err := f.joinableLocked(c.spec.NetworkMode); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if script.StartErr != nil {
		c.state.ExitCode = 128
		c.state.Error = script.StartErr.Error()
		return fmt.Errorf("start container %s: %w", id, script.StartErr)
	}

	c.run++
	c.exited = make(chan struct{})
	c.state.Running = true
	c.state.Status = "running"
	c.state.ExitCode = 0
	c.state.Error = ""
	c.state.OOMKilled = false
	c.state.StartedAt = time.Now()
	c.state.FinishedAt = time.Time{}
	f.nextPid++
	c.state.Pid = 10000 + f.nextPid
	if c.state.IPAddress == "" && ownsNetwork(c.spec.NetworkMode) {
		c.state.IPAddress = f.allocateIPLocked()
	}
	if script.Output != "" {
		c.appendLogs(script.Output)
	}
	f.emitLocked(c, "start", nil)
	if script.RunFor > 0 {
		id, run, code := c.state.ID, c.run, script.ExitCode
		c.timer = time.AfterFunc(script.RunFor, func() { f.endRun(id, run, code) })
	}
	return nil
}

// endRun is the exit timer of one run; a later run is left alone.
func (f *Fake) endRun(id string, run, exitCode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil || c.run != run || !c.state.Running {
		return
	}
	f.exitLocked(c, exitCode, false)
}

func (f *Fake) scriptLocked(c *fakeContainer) Script {
	if s, ok := f.containerScripts[c.state.ID]; ok {
		return s
	}
	if s, ok := f.containerScripts[c.state.Name]; ok {
		return s
	}
	return c.script
}

// joinableLocked checks that a container:<id> network mode names a running
// container, as the engine does at start.
func (f *Fake) joinableLocked(networkMode string) error {
	target, ok := strings.CutPrefix(networkMode, "container:")
	if !ok {
		return nil
	}
	c := f.lookupLocked(target)
	if c == nil {
		return fmt.Errorf("joining network of %s: %w", target, engine.ErrNotFound)
	}
	if !c.state.Running {
		return fmt.Errorf("cannot join network of a non running container: %s", target)
	}
	return nil
}

func ownsNetwork(networkMode string) bool {
	return networkMode != "host" && networkMode != "none" && !strings.HasPrefix(networkMode, "container:")
}

func (f *Fake) allocateIPLocked() string {
	n := f.nextIP
	f.nextIP++
	return fmt.Sprintf("172.31.%d.%d", n/250, n%250+2)
}

func (f *Fake) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	f.record("StopContainer", id, timeout.String())
	if err := f.hold(ctx, "StopContainer"); err != nil {
		return err
	}
	if f.StopContainerFn != nil {
		return f.StopContainerFn(ctx, id, timeout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	c := f.lookupLocked(id)
	if c == nil {
		return fmt.Errorf("stop container %s: %w", id, engine.ErrNotFound)
	}
	if c.state.Running {
		f.emitLocked(c, "kill", map[string]string{"signal": "15"})
		f.exitLocked(c, StopExitCode, false)
		f.emitLocked(c, "stop", nil)
	}
	return nil
}

func (f *Fake) RemoveContainer(ctx context.Context, id string) error {
	f.record("RemoveContainer", id)
	if err := f.hold(ctx, "RemoveContainer"); err != nil {
		return err
	}
	if f.RemoveContainerFn != nil {
		return f.RemoveContainerFn(ctx, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	c := f.lookupLocked(id)
	if c == nil {
		return fmt.Errorf("remove container %s: %w", id, engine.ErrNotFound)
	}
	if c.state.Running {
		f.emitLocked(c, "kill", map[string]string{"signal": "9"})
		f.exitLocked(c, KillExitCode, false)
	}
	delete(f.containers, c.state.ID)
	f.emitLocked(c, "destroy", nil)
	return nil
}

func (f *Fake) InspectContainer(ctx context.Context, id string) (engine.State, error) {
	f.record("InspectContainer", id)
	if err := f.hold(ctx, "InspectContainer"); err != nil {
		return engine.State{}, err
	}
	if f.InspectContainerFn != nil {
		return f.InspectContainerFn(ctx, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return engine.State{}, err
	}
	c := f.lookupLocked(id)
	if c == nil {
		return engine.State{}, fmt.Errorf("inspect container %s: %w", id, engine.ErrNotFound)
	}
	return c.snapshot(), nil
}

// ListContainers lists matching containers, newest first, as the engine does.
func (f *Fake) ListContainers(ctx context.Context, labels map[string]string) ([]engine.Summary, error) {
	f.record("ListContainers", labelArgs(labels)...)
	if err := f.hold(ctx, "ListContainers"); err != nil {
		return nil, err
	}
	if f.ListContainersFn != nil {
		return f.ListContainersFn(ctx, labels)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return nil, err
	}
	var matched []*fakeContainer
	for _, c := range f.containers {
		if hasLabels(c.state.Labels, labels) {
			matched = append(matched, c)
		}
	}
	slices.SortFunc(matched, func(a, b *fakeContainer) int { return b.seq - a.seq })
	out := make([]engine.Summary, 0, len(matched))
	for _, c := range matched {
		out = append(out, engine.Summary{
			ID: c.state.ID, Names: []string{c.state.Name}, Image: c.state.Image,
			Labels: maps.Clone(c.state.Labels), State: c.state.Status, Created: c.created,
		})
	}
	return out, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func labelArgs(labels map[string]string) []string {
	args := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		args = append(args, k+"="+labels[k])
	}
	return args
}

// exitLocked ends the current run of c with exitCode.
func (f *Fake) exitLocked(c *fakeContainer, exitCode int, oom bool) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.state.Running = false
	c.state.Pid = 0
	c.state.Status = "exited"
	c.state.ExitCode = exitCode
	c.state.OOMKilled = oom
	c.state.FinishedAt = time.Now()
	close(c.exited)
	if oom {
		f.emitLocked(c, "oom", nil)
	}
	f.emitLocked(c, "die", map[string]string{"exitCode": strconv.Itoa(exitCode)})
}

// lookupLocked finds a container by id, name or unique id prefix.
func (f *Fake) lookupLocked(idOrName string) *fakeContainer {
	if idOrName == "" {
		return nil
	}
	if c, ok := f.containers[idOrName]; ok {
		return c
	}
	for _, c := range f.containers {
		if c.state.Name == idOrName {
			return c
		}
	}
	var byPrefix *fakeContainer
	for id, c := range f.containers {
		if strings.HasPrefix(id, idOrName) {
			if byPrefix != nil {
				return nil // ambiguous
			}
			byPrefix = c
		}
	}
	return byPrefix
}

func (f *Fake) runningLocked(idOrName string) (*fakeContainer, error) {
	c := f.lookupLocked(idOrName)
	if c == nil {
		return nil, fmt.Errorf("container %s: %w", idOrName, engine.ErrNotFound)
	}
	if !c.state.Running {
		return nil, fmt.Errorf("container %s: %w", idOrName, errNotRunning)
	}
	return c, nil
}

var errNotRunning = errors.New("container is not running")

func (c *fakeContainer) snapshot() engine.State {
	st := c.state
	st.Labels = maps.Clone(c.state.Labels)
	return st
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}
