package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNoConntrack is returned by Kernel.Conntrack when the conntrack tool is
// not installed (Debian package conntrack).
var ErrNoConntrack = errors.New("proxy: conntrack tool not found")

// Kernel is what the proxier needs of the node's netfilter: the iptables and
// conntrack tools. ExecKernel runs the real ones.
type Kernel interface {
	// Restore applies an iptables-restore input without flushing the
	// chains it does not declare; each table in it commits atomically.
	Restore(ctx context.Context, rules []byte) error
	// Save returns the iptables-save output of one table.
	Save(ctx context.Context, table string) ([]byte, error)
	// Iptables runs iptables with the arguments.
	Iptables(ctx context.Context, args ...string) error
	// Conntrack runs conntrack with the arguments, ErrNoConntrack without
	// the tool.
	Conntrack(ctx context.Context, args ...string) error
}

// CommandError is a tool that failed: how it was called, its exit status
// (-1 when it did not run) and what it printed on stderr.
type CommandError struct {
	Args     []string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("proxy: %s: %v", strings.Join(e.Args, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// exitCode returns the exit status of a tool that ran and failed, or -1.
func exitCode(err error) int {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.ExitCode
	}
	return -1
}

// ExecKernel runs the iptables tools found on PATH. With Netns set, every
// tool runs in that named network namespace (ip netns exec), which is how
// tests drive a namespace of their own.
type ExecKernel struct {
	Netns string
}

var _ Kernel = ExecKernel{}

// Restore runs iptables-restore --noflush, waiting up to 5 s for the xtables
// lock that other writers (dockerd) hold.
func (k ExecKernel) Restore(ctx context.Context, rules []byte) error {
	_, err := k.run(ctx, rules, "iptables-restore", "--noflush", "-w", "5")
	return err
}

// Save runs iptables-save -t table.
func (k ExecKernel) Save(ctx context.Context, table string) ([]byte, error) {
	return k.run(ctx, nil, "iptables-save", "-t", table)
}

// Iptables runs iptables -w 5 with the arguments.
func (k ExecKernel) Iptables(ctx context.Context, args ...string) error {
	_, err := k.run(ctx, nil, "iptables", append([]string{"-w", "5"}, args...)...)
	return err
}

// Conntrack runs conntrack with the arguments.
func (k ExecKernel) Conntrack(ctx context.Context, args ...string) error {
	if _, err := exec.LookPath("conntrack"); err != nil {
		return ErrNoConntrack
	}
	_, err := k.run(ctx, nil, "conntrack", args...)
	return err
}

func (k ExecKernel) run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	argv := append([]string{name}, args...)
	if k.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", k.Netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return nil, &CommandError{Args: argv, ExitCode: code, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}
