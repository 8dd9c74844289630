//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// runPause runs pause in the background and waits until its handlers are in
// place.
func runPause(t *testing.T, ctx context.Context) <-chan error {
	t.Helper()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- pause(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("pause did not get ready")
	}
	return done
}

func waitReturn(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pause returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pause did not return")
	}
}

func TestPauseReturnsOnTermAndInt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			done := runPause(t, context.Background())
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			waitReturn(t, done)
		})
	}
}

func TestPauseReturnsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := runPause(t, ctx)
	select {
	case <-done:
		t.Fatal("pause returned before its context ended")
	default:
	}
	cancel()
	waitReturn(t, done)
}

// TestPauseReapsChildren leaves children of the test process unwaited for, as
// orphans reparented to a sandbox's PID 1 are, and checks that pause reaps
// them: a zombie keeps its /proc entry until it is reaped.
func TestPauseReapsChildren(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	early := startChild(t) // exits before pause's handler exists
	waitZombie(t, early)
	done := runPause(t, ctx)
	late := startChild(t) // exits while pause runs

	for _, pid := range []int{early, late} {
		deadline := time.Now().Add(5 * time.Second)
		for procExists(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("child %d was not reaped", pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	waitReturn(t, done)
}

func startChild(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// waitZombie waits until the child has exited and is a zombie.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	poll.Until(t, 5*time.Second, fmt.Sprintf("child %d a zombie", pid), func() error {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatalf("child %d gone before pause ran: %v", pid, err)
		}
		if state := procState(stat); state != 'Z' {
			return fmt.Errorf("state %c", state)
		}
		return nil
	})
}

// procState returns the state letter of a /proc/<pid>/stat line, which
// follows the parenthesised command name.
func procState(stat []byte) byte {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2]
		}
	}
	return 0
}

func procExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return !errors.Is(err, os.ErrNotExist)
}
