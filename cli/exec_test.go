package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func execServer(t *testing.T) (*clienttest.Server, *clienttest.ExecRequest) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)))
	seen := &clienttest.ExecRequest{}
	srv.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) {
		*seen = r
		if r.Stdin != nil {
			in, _ := io.ReadAll(r.Stdin)
			fmt.Fprintf(r.Stdout, "stdin=%s;", in)
		}
		fmt.Fprint(r.Stdout, strings.Join(r.Command, " "))
		fmt.Fprint(r.Stderr, "to stderr")
		if r.Command[0] == "fail" {
			return 7, nil
		}
		return 0, nil
	}
	return srv, seen
}

func TestExecPassesTheExitCode(t *testing.T) {
	srv, seen := execServer(t)
	r := shoal(t, srv, "", "exec", "web-1", "-c", "app", "--", "fail", "-x", "--flag")
	if r.code != 7 {
		t.Fatalf("exit status %d, want the command's 7 (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "fail -x --flag" || r.stderr != "to stderr" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if seen.Container != "app" || seen.TTY || seen.Stdin != nil {
		t.Fatalf("server saw %+v", *seen)
	}

	r = shoal(t, srv, "", "exec", "web-1", "--", "true")
	if r.code != 0 || r.stdout != "true" {
		t.Fatalf("exit status %d stdout %q", r.code, r.stdout)
	}
}

func TestExecStdinAndTTYFallback(t *testing.T) {
	srv, seen := execServer(t)
	r := shoal(t, srv, "piped input", "exec", "-it", "web-1", "--", "cat")
	expectOK(t, r)
	if r.stdout != "stdin=piped input;cat" {
		t.Fatalf("stdout %q", r.stdout)
	}
	// Input is not a terminal: no TTY, and the user is told, as kubectl does.
	if seen.TTY || !strings.HasPrefix(r.stderr, "Unable to use a TTY") {
		t.Fatalf("tty %v stderr %q", seen.TTY, r.stderr)
	}
}

func TestExecErrors(t *testing.T) {
	srv, _ := execServer(t)
	r := shoal(t, srv, "", "exec", "gone", "--", "ls")
	if r.code != 1 || r.stderr != "Error from server (NotFound): pods \"gone\" not found\n" {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "exec", "web-1")
	if r.code != 1 || !strings.Contains(r.stderr, "a command is required") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

func TestExecOnDeploymentPicksAPod(t *testing.T) {
	srv, _ := execServer(t)
	srv.Add(deployment("web", 2, 1, 1, 1, ago(time.Hour)))
	pending := waiting("web-0", "ContainerCreating", ago(time.Minute), 0)
	srv.Add(pending)
	r := shoal(t, srv, "", "exec", "deploy/web", "--", "hostname")
	expectOK(t, r)
	if !strings.HasPrefix(r.stderr, "Found 2 pods, using pod/web-1\n") {
		t.Fatalf("stderr %q: the running pod must be picked", r.stderr)
	}
}
