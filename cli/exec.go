package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

type execOptions struct {
	stdin     bool
	tty       bool
	container string
}

func newExecCommand(e *env) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] POD [-c CONTAINER] -- COMMAND [ARGS...]",
		Short: "Run a command in a container",
		Long: `Run a command in a running container. The exit status of shoal is the
command's. With -i the standard input is passed on; with -t as well, and a
terminal as input, the command gets a terminal of the same size.
POD may also be deploy/NAME, rs/NAME, ds/NAME or job/NAME: one of the
workload's pods is used, as for logs.`,
		Example: `  shoal exec web-5d8f7 -- ls /
  shoal exec -it deploy/web -- sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass standard input to the command")
	f.BoolVarP(&o.tty, "tty", "t", false, "give the command a terminal")
	f.StringVarP(&o.container, "container", "c", "", "container name (default: the pod's first)")
	return cmd
}

// splitExecArgs reads POD -- COMMAND ARGS; the old form without "--" is
// accepted as kubectl still does.
func splitExecArgs(cmd *cobra.Command, args []string) (string, []string, error) {
	dash := cmd.ArgsLenAtDash()
	switch {
	case len(args) == 0 || dash == 0:
		return "", nil, usageError(cmd, "a pod name is required: shoal exec POD -- COMMAND")
	case dash > 1:
		return "", nil, usageError(cmd, "exec takes one pod before \"--\", got %q", args[:dash])
	case len(args) < 2:
		return "", nil, usageError(cmd, "a command is required after \"--\": shoal exec %s -- COMMAND", args[0])
	}
	return args[0], args[1:], nil
}

func runExec(cmd *cobra.Command, e *env, o *execOptions, args []string) error {
	podArg, command, err := splitExecArgs(cmd, args)
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	pod, err := resolvePod(ctx, c, e.namespace, podArg, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return execInPod(cmd, c, e.namespace, pod, o, setupTerminal(cmd, o), command)
}

// execInPod runs command in a container of the pod, with the terminal t
// decided, and returns an exitError for a non-zero exit.
func execInPod(cmd *cobra.Command, c *client.Client, ns, pod string, o *execOptions, t terminal, command []string) error {
	ctx := cmd.Context()
	opts := api.ExecOptions{Container: o.container, Command: command, Stdin: o.stdin, Stdout: true,
		Stderr: !t.tty, TTY: t.tty}
	var stdin io.Reader
	if o.stdin {
		stdin = cmd.InOrStdin()
	}
	var resize <-chan api.TerminalSize
	if t.tty {
		restore, err := t.makeRaw()
		if err != nil {
			return err
		}
		defer restore()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		resize = watchResize(rctx, t.sizeFd)
	}
	code, err := c.Exec(ctx, ns, pod, opts, stdin, cmd.OutOrStdout(), cmd.ErrOrStderr(), resize)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// terminal is what exec knows about the user's terminal.
type terminal struct {
	tty    bool
	inFd   int // the input's descriptor, put in raw mode
	sizeFd int // the descriptor whose size the remote terminal follows
}

// setupTerminal decides whether the command gets a terminal: -t with -i and
// a terminal as input, as in kubectl.
func setupTerminal(cmd *cobra.Command, o *execOptions) terminal {
	if !o.tty {
		return terminal{}
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !o.stdin || !ok || !term.IsTerminal(int(in.Fd())) {
		fmt.Fprintln(cmd.ErrOrStderr(), "Unable to use a TTY - input is not a terminal or the right kind of file")
		return terminal{}
	}
	t := terminal{tty: true, inFd: int(in.Fd()), sizeFd: int(in.Fd())}
	if out, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(out.Fd())) {
		t.sizeFd = int(out.Fd())
	}
	return t
}

// makeRaw puts the input terminal in raw mode, so that keys such as Ctrl-C
// reach the command; the returned function restores it.
func (t terminal) makeRaw() (func(), error) {
	state, err := term.MakeRaw(t.inFd)
	if err != nil {
		return nil, fmt.Errorf("setting the terminal to raw mode: %w", err)
	}
	return func() { _ = term.Restore(t.inFd, state) }, nil
}

// terminalSize reads the size of fd; ok is false when it is not known.
func terminalSize(fd int) (api.TerminalSize, bool) {
	w, h, err := term.GetSize(fd)
	if err != nil || w <= 0 || h <= 0 {
		return api.TerminalSize{}, false
	}
	return api.TerminalSize{Width: uint16(w), Height: uint16(h)}, true
}
