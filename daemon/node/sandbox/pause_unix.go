//go:build unix

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Pause is what `shoal pause` runs as PID 1 of a sandbox. It first writes
// the pod's resolv.conf when it was given one (ResolvConfEnv). It blocks
// until SIGTERM or SIGINT arrives, or ctx is done, and then returns nil.
// Being PID 1 of the pod's PID namespace, it inherits every orphaned process
// there and reaps them as they exit, so that no zombies pile up.
func Pause(ctx context.Context) error {
	if err := writeResolvConf("/etc/resolv.conf", os.Getenv(ResolvConfEnv)); err != nil {
		// The pod keeps the engine's resolver, which forwards to the same
		// server: slower, not broken.
		fmt.Fprintln(os.Stderr, "shoal pause:", err)
	}
	if os.Getenv(HostsEntryEnv) == "1" {
		hctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		go func() {
			if err := addHostsEntry(hctx, "/etc/hosts", net.InterfaceAddrs); err != nil {
				fmt.Fprintln(os.Stderr, "shoal pause:", err)
			}
		}()
	}
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
