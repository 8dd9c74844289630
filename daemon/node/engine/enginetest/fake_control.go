package enginetest

import (
	"fmt"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Test controls: what the fake's containers look like and what happens to
// them behind the engine's back.

// State returns the state of the container with that id or name.
func (f *Fake) State(idOrName string) (engine.State, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookupLocked(idOrName)
	if c == nil {
		return engine.State{}, false
	}
	return c.snapshot(), true
}

// Spec returns the spec the container with that id or name was created from.
func (f *Fake) Spec(idOrName string) (engine.ContainerSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookupLocked(idOrName)
	if c == nil {
		return engine.ContainerSpec{}, false
	}
	return c.spec, true
}

// Kill ends a running container with exitCode, as a crash would; it emits
// "die".
func (f *Fake) Kill(idOrName string, exitCode int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.runningLocked(idOrName)
	if err != nil {
		return err
	}
	f.exitLocked(c, exitCode, false)
	return nil
}

// OOMKill ends a running container as the kernel's OOM killer would: it is
// marked OOMKilled, exits with KillExitCode and emits "oom" then "die".
func (f *Fake) OOMKill(idOrName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.runningLocked(idOrName)
	if err != nil {
		return err
	}
	f.exitLocked(c, KillExitCode, true)
	return nil
}

// SetHealth sets the container's health status ("healthy", "unhealthy",
// "starting") and emits "health_status: <status>".
func (f *Fake) SetHealth(idOrName, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookupLocked(idOrName)
	if c == nil {
		return fmt.Errorf("container %s: %w", idOrName, engine.ErrNotFound)
	}
	c.state.Health = status
	f.emitLocked(c, "health_status: "+status, nil)
	return nil
}
