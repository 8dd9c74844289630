package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func runExit(args []string) error {
	fs := newFlagSet("exit", "CODE [--after DURATION]")
	after := fs.Duration("after", 0, "wait this long before exiting")
	pos, err := parseExact(fs, args, 1)
	if err != nil {
		return err
	}
	code, err := strconv.Atoi(pos[0])
	if err != nil || code < 0 || code > 255 {
		return usageError(fs, "CODE must be 0..255, got %q", pos[0])
	}
	time.Sleep(*after)
	return exitCode(code)
}

// runCrash prints a line first, so logs of a crash-looping container show
// every attempt, then exits 1.
func runCrash(args []string) error {
	fs := newFlagSet("crash", "[--after DURATION]")
	after := fs.Duration("after", 0, "wait this long before exiting")
	if _, err := parseExact(fs, args, 0); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "testapp %s on %s: crashing with exit code 1 after %s\n", version, hostname(), *after)
	time.Sleep(*after)
	return exitCode(1)
}

func runSleep(args []string) error {
	fs := newFlagSet("sleep", "DURATION|infinity [--ignore-sigterm]")
	ignore := fs.Bool("ignore-sigterm", false, "ignore SIGTERM, so only SIGKILL ends the sleep")
	pos, err := parseExact(fs, args, 1)
	if err != nil {
		return err
	}
	var timeout <-chan time.Time // nil: sleep forever
	if pos[0] != "infinity" {
		d, err := parseDuration(pos[0])
		if err != nil {
			return usageError(fs, "%v", err)
		}
		timeout = time.After(d)
	}
	// As PID 1 a process gets no default SIGTERM handling, so catch it,
	// unless asked to ignore it to test kills after a grace period.
	sigs := []os.Signal{syscall.SIGTERM, os.Interrupt}
	if *ignore {
		signal.Ignore(syscall.SIGTERM)
		sigs = sigs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	select {
	case <-timeout:
	case <-ctx.Done():
		fmt.Fprintln(stdout, "sleep: signal received, exiting")
	}
	return nil
}

func runCat(args []string) error {
	var failed []string
	for _, p := range args {
		if err := copyFile(stdout, p); err != nil {
			fmt.Fprintf(stderr, "testapp cat: %v\n", err)
			failed = append(failed, p)
		}
	}
	if len(failed) > 0 {
		return exitCode(1)
	}
	return nil
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func runEnv([]string) error {
	for _, kv := range sortedEnv(os.Environ()) {
		fmt.Fprintln(stdout, kv)
	}
	return nil
}

func runEcho(args []string) error {
	fmt.Fprintln(stdout, strings.Join(args, " "))
	return nil
}

// runWrite writes TEXT and a newline to PATH, like echo TEXT > PATH, making
// parent directories as needed.
func runWrite(args []string) error {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "usage: testapp write PATH TEXT...")
		return exitCode(2)
	}
	path, text := args[0], strings.Join(args[1:], " ")+"\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("make parent of %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func runHostname([]string) error {
	fmt.Fprintln(stdout, hostname())
	return nil
}

func runVersion([]string) error {
	fmt.Fprintln(stdout, version)
	return nil
}
