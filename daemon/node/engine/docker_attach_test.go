package engine_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

func TestDockerAttach(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)

	t.Run("stdin and split output of the main process", func(t *testing.T) {
		id := runContainer(t, d, engine.ContainerSpec{Image: image, OpenStdin: true,
			Cmd: []string{"sh", "-c", `while read l; do echo "out $l"; echo "err $l" >&2; done`}})
		ctx, cancel := context.WithTimeout(testContext(t, 30*time.Second), 20*time.Second)
		defer cancel()
		sess, err := d.Attach(ctx, id, engine.AttachConfig{Stdin: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		if sess.TTY() {
			t.Fatal("a container without a terminal reports one")
		}
		var stdout, stderr lockedBuffer
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- sess.Stream(ctx, pr, &stdout, &stderr) }()
		io.WriteString(pw, "one\n")
		for !strings.Contains(stderr.String(), "err one") {
			select {
			case err := <-done:
				t.Fatalf("attach ended: %v", err)
			case <-ctx.Done():
				t.Fatalf("no output: stdout %q, stderr %q", stdout.String(), stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		if stdout.String() != "out one\n" {
			t.Fatalf("stdout %q", stdout.String())
		}
		// The client leaving is a detach: no error, and the process runs on.
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("detach: %v", err)
		}
		pw.Close()
		st, err := d.InspectContainer(testContext(t, 10*time.Second), id)
		if err != nil || !st.Running {
			t.Fatalf("after a detach: %+v, %v", st, err)
		}
	})

	t.Run("the session ends with the process; a terminal is resized", func(t *testing.T) {
		id := runContainer(t, d, engine.ContainerSpec{Image: image, OpenStdin: true, TTY: true,
			Cmd: []string{"sh", "-c", "read l; echo got-$l"}})
		ctx := testContext(t, 30*time.Second)
		sess, err := d.Attach(ctx, id, engine.AttachConfig{Stdin: true, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		if !sess.TTY() {
			t.Fatal("a container with a terminal reports none")
		}
		if err := sess.Resize(ctx, 100, 30); err != nil {
			t.Fatalf("resize: %v", err)
		}
		var out lockedBuffer
		if err := sess.Stream(ctx, strings.NewReader("x\n"), &out, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "got-x") {
			t.Fatalf("terminal output %q", out.String())
		}
	})

	t.Run("a stopped container is refused", func(t *testing.T) {
		id := createContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"true"}})
		if _, err := d.Attach(testContext(t, 10*time.Second), id, engine.AttachConfig{Stdout: true}); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("attach to a created container: %v, want ErrConflict", err)
		}
	})
}
