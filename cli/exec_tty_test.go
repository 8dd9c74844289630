//go:build linux || darwin

package cli

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// With a real terminal as input, exec -it asks for a TTY, sends the
// terminal's size, passes keys through in raw mode and restores the terminal.
func TestExecWithTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(tty, &pty.Winsize{Cols: 132, Rows: 43}); err != nil {
		t.Fatal(err)
	}
	before, err := term.GetState(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}

	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)))
	var sawTTY bool
	srv.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) {
		sawTTY = r.TTY
		size := <-r.Resize
		fmt.Fprintf(r.Stdout, "%dx%d ", size.Width, size.Height)
		// The user types once the terminal is raw: Ctrl-C is then a byte for
		// the command, not a signal.
		if _, err := ptmx.Write([]byte("a\x03b")); err != nil {
			return 1, err
		}
		buf := make([]byte, 3)
		if _, err := io.ReadFull(r.Stdin, buf); err != nil {
			return 1, nil
		}
		fmt.Fprintf(r.Stdout, "%q", buf)
		return 0, nil
	}

	root := newRoot(&env{now: func() time.Time { return fixedNow }}, nil)
	root.SetArgs([]string{"--server", srv.URL, "--token", srv.Token, "exec", "-it", "web-1", "--", "sh"})
	var out, errOut syncBuffer
	root.SetIn(tty)
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code := run(ctx, root); code != 0 {
		t.Fatalf("exit status %d, stderr %q", code, errOut.String())
	}
	if !sawTTY || out.String() != `132x43 "a\x03b"` {
		t.Fatalf("tty %v, stdout %q", sawTTY, out.String())
	}
	after, err := term.GetState(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*after) != fmt.Sprint(*before) {
		t.Fatal("the terminal was not restored after exec")
	}
}
