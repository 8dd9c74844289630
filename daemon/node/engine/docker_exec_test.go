package engine_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

// lockedBuffer is written by Stream while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDockerExec(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)
	id := runContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"sleep", "300"}})

	t.Run("stdin, split output and exit code", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		sess, err := d.Exec(ctx, id, engine.ExecConfig{
			Cmd:   []string{"sh", "-c", `cat; echo "err $FOO" >&2; exit 7`},
			Env:   []string{"FOO=bar"},
			Stdin: true, Stdout: true, Stderr: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr strings.Builder
		code, err := sess.Stream(ctx, strings.NewReader("hello\nworld\n"), &stdout, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		if code != 7 || stdout.String() != "hello\nworld\n" || stderr.String() != "err bar\n" {
			t.Fatalf("code %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
		}
		if _, err := sess.Stream(ctx, nil, nil, nil); err == nil {
			t.Fatal("a session streamed twice")
		}
	})

	t.Run("user", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		sess, err := d.Exec(ctx, id, engine.ExecConfig{Cmd: []string{"id", "-u"}, User: "4242", Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var stdout strings.Builder
		if code, err := sess.Stream(ctx, nil, &stdout, nil); err != nil || code != 0 || stdout.String() != "4242\n" {
			t.Fatalf("code %d, err %v, stdout %q", code, err, stdout.String())
		}
	})

	t.Run("tty", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		sess, err := d.Exec(ctx, id, engine.ExecConfig{
			Cmd: []string{"sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty"},
			TTY: true, Stdin: true, Stdout: true, Stderr: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		var stdout strings.Builder
		code, err := sess.Stream(ctx, nil, &stdout, nil)
		if err != nil || code != 0 || stdout.String() != "is-a-tty\r\n" {
			t.Fatalf("code %d, err %v, stdout %q", code, err, stdout.String())
		}
	})

	t.Run("tty resize", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		sess, err := d.Exec(ctx, id, engine.ExecConfig{
			Cmd: []string{"sh", "-c", "read line; stty size"},
			TTY: true, Stdin: true, Stdout: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		stdinR, stdinW := io.Pipe()
		defer stdinW.Close()
		var stdout lockedBuffer
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := sess.Stream(ctx, stdinR, &stdout, nil)
			done <- result{code, err}
		}()
		if err := sess.Resize(ctx, 100, 40); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(stdinW, "go\n"); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || r.code != 0 || !strings.Contains(stdout.String(), "40 100") {
			t.Fatalf("code %d, err %v, stdout %q", r.code, r.err, stdout.String())
		}
	})

	t.Run("context ends the stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		sess, err := d.Exec(testContext(t, 30*time.Second), id, engine.ExecConfig{Cmd: []string{"sleep", "300"}, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = sess.Stream(ctx, nil, nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stream error = %v, want DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("Stream returned %s after its context ended", took)
		}
	})

	t.Run("stopped container", func(t *testing.T) {
		ctx := testContext(t, 30*time.Second)
		stopped := createContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"true"}})
		_, err := d.Exec(ctx, stopped, engine.ExecConfig{Cmd: []string{"true"}})
		if !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("exec in a created container: %v, want ErrConflict", err)
		}
	})
}
