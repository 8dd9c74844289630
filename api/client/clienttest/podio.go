package clienttest

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

// ExecRequest is one exec as the Server's ExecFunc sees it.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	TTY                       bool
	Stdin                     io.Reader // nil unless the client asked for stdin
	Stdout, Stderr            io.Writer
	Resize                    <-chan api.TerminalSize
}

// ExecFunc runs a command and returns its exit code, or an error when it
// could not run at all.
type ExecFunc func(ctx context.Context, req ExecRequest) (int, error)

// SetLogs sets the log text of a pod's container ("" for a request that
// names no container).
func (s *Server) SetLogs(ns, pod, container, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs[ns+"/"+pod+"/"+container] = text
}

// podIO is the pods' node, as the API server sees it: every pod runs
// here, its logs are what SetLogs set, and its commands run in Exec.
type podIO struct{ s *Server }

var _ server.PodIO = podIO{}

func (p podIO) Locate(ctx context.Context, ns, pod string) (*server.Target, error) {
	_, err := p.s.reg.Get(ctx, api.KindPod, ns, pod)
	return nil, err
}

func (p podIO) Logs(_ context.Context, ns, pod string, opts api.LogOptions, w io.Writer) error {
	p.s.mu.Lock()
	text, ok := p.s.logs[ns+"/"+pod+"/"+opts.Container]
	p.s.mu.Unlock()
	if !ok {
		return api.NewBadRequest(fmt.Sprintf("container %q in pod %q has no log", opts.Container, pod))
	}
	if opts.TailLines != nil {
		text = tail(text, int(*opts.TailLines))
	}
	_, err := io.WriteString(w, text)
	return err
}

func tail(text string, n int) string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func (p podIO) Exec(ctx context.Context, ns, pod string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
	run := p.s.Exec
	if run == nil {
		return -1, api.NewBadRequest("exec is not set up on this test server (set Server.Exec)")
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return run(ctx, ExecRequest{Namespace: ns, Pod: pod, Container: opts.Container, Command: opts.Command, TTY: opts.TTY,
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Resize: resize})
}

// SetTop sets the processes the pod's node lists for the pod's top.
func (s *Server) SetTop(ns, pod string, titles []string, processes ...[]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tops == nil {
		s.tops = map[string]*api.PodTop{}
	}
	s.tops[ns+"/"+pod] = &api.PodTop{TypeMeta: api.TypeMeta{Kind: "PodTop", APIVersion: "shoal/v1"}, Pod: pod,
		Titles: titles, Processes: processes}
}

func (p podIO) Top(_ context.Context, ns, pod, container string) (*api.PodTop, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	t, ok := p.s.tops[ns+"/"+pod]
	if !ok {
		return nil, api.NewBadRequest(fmt.Sprintf("container %q in pod %q is not running", container, pod))
	}
	out := *t
	out.Container = container
	return &out, nil
}
