//go:build unix

package sandbox

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// Pause is what `shoal pause` runs as PID 1 of a sandbox where the tiny
// pause has no build for the machine (TinyPause). It blocks until SIGTERM or
// SIGINT arrives, or ctx is done, and then returns nil. Being PID 1 of the
// pod's PID namespace, it inherits every orphaned process there and reaps
// them as they exit, so that no zombies pile up.
func Pause(ctx context.Context) error {
	return pause(ctx, nil)
}

// pause calls ready, if given, once its signal handlers are in place.
func pause(ctx context.Context, ready func()) error {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	// Children that ended before the handler was installed sent their
	// SIGCHLD to nobody.
	reapChildren()
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-sigs:
			if sig != syscall.SIGCHLD {
				return nil
			}
			// Several exits may share one SIGCHLD: reap until none is left.
			reapChildren()
		}
	}
}

// reapChildren collects every child that has exited, without blocking.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return // ECHILD: no children; 0: none has exited yet
		}
	}
}
