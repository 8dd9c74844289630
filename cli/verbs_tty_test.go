//go:build linux || darwin

package cli

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// ptyScreen is a pseudo-terminal whose screen the test reads.
type ptyScreen struct {
	ptmx   *os.File // the keyboard's side: what is written here is typed
	tty    *os.File
	screen *syncBuffer
	closed chan struct{}
}

func openTerminal(t *testing.T) *ptyScreen {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := pty.Setsize(tty, &pty.Winsize{Cols: 200, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	term := &ptyScreen{ptmx: ptmx, tty: tty, screen: &syncBuffer{}, closed: make(chan struct{})}
	go func() {
		defer close(term.closed)
		_, _ = io.Copy(term.screen, ptmx)
	}()
	return term
}

// text closes the terminal and returns all that was drawn on it.
func (term *ptyScreen) text() string {
	term.tty.Close()
	<-term.closed
	return term.screen.String()
}

// runWith runs the CLI with stdout and stderr as given.
func runWith(t *testing.T, srv *clienttest.Server, stdout, stderr io.Writer, args ...string) chan int {
	root := newRoot(&env{now: func() time.Time { return fixedNow }}, nil)
	root.SetArgs(append([]string{"--server", srv.URL, "--token", srv.Token}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	done := make(chan int, 1)
	go func() { done <- run(ctx, root) }()
	return done
}

// In a terminal, wait's progress is one live line on stderr, removed when
// the condition is met; stdout carries only the result.
func TestWaitShowsALiveLineInATerminal(t *testing.T) {
	term := openTerminal(t)
	srv := clienttest.NewServer(t)
	srv.Add(waiting("web-2", "ContainerCreating", ago(time.Minute), 0))
	var out syncBuffer
	done := runWith(t, srv, &out, term.tty, "wait", "--for=condition=Ready", "pod/web-2")
	live := regexp.MustCompile(`\r[` + strings.Join(spinner, "") + `] waiting for pod/web-2: condition Ready \(now no condition Ready\)\x1b\[K`)
	poll.Cond(t, 5*time.Second, "the live line", func() bool { return len(live.FindAllString(term.screen.String(), -1)) >= 2 })
	srv.Update(api.KindPod, "default", "web-2", func(o api.Object) {
		o.(*api.Pod).Status = running("web-2", "default", ago(time.Minute)).Status
	})
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	screen := term.text()
	if !strings.HasSuffix(screen, "\r\x1b[K") || strings.Contains(screen, "\n") {
		t.Fatalf("the live line must stay one line and be cleared at the end:\n%q", screen)
	}
	if out.String() != "pod/web-2 condition met\n" {
		t.Fatalf("stdout %q", out.String())
	}
}

// diff colours its lines on a terminal only, and never with NO_COLOR.
func TestDiffColoursOnlyATerminal(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"mode": "slow"}})
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n"
	diffOn := func(t *testing.T) string {
		term := openTerminal(t)
		f, err := os.CreateTemp(t.TempDir(), "cm-*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(manifest); err != nil {
			t.Fatal(err)
		}
		f.Close()
		var errOut syncBuffer
		if code := <-runWith(t, srv, term.tty, &errOut, "diff", "-f", f.Name()); code != 1 {
			t.Fatalf("exit %d, stderr %q", code, errOut.String())
		}
		return term.text()
	}
	t.Run("terminal", func(t *testing.T) {
		t.Setenv("TERM", "xterm")
		os.Unsetenv("NO_COLOR")
		screen := diffOn(t)
		if !strings.Contains(screen, colorRed+"-  mode: slow"+colorReset) || !strings.Contains(screen, colorGreen+"+  mode: fast"+colorReset) {
			t.Fatalf("no colours on a terminal:\n%q", screen)
		}
	})
	t.Run("NO_COLOR", func(t *testing.T) {
		t.Setenv("NO_COLOR", "1")
		screen := diffOn(t)
		if strings.Contains(screen, "\x1b[") || !strings.Contains(screen, "-  mode: slow") {
			t.Fatalf("colours despite NO_COLOR:\n%q", screen)
		}
	})
	// To a pipe or file: plain text (TestDiff reads a buffer).
	r := shoal(t, srv, manifest, "diff", "-f", "-")
	if r.code != 1 || strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("colours to a buffer: %d %q", r.code, r.stdout)
	}
}

// In a terminal, drain keeps kubectl's lines and shows the pods still
// stopping on a live line under them, cleared at the end.
func TestDrainShowsStoppingPodsInATerminal(t *testing.T) {
	term := openTerminal(t)
	srv := drainFixture(t)
	srv.PodTermination = 1500 * time.Millisecond
	var errOut syncBuffer
	done := runWith(t, srv, term.tty, &errOut, "drain", "h1", "--ignore-daemonsets")
	live := regexp.MustCompile(`\r[` + strings.Join(spinner, "") + `] waiting for 2 pod\(s\) to stop: web-1, web-2\x1b\[K`)
	if !waitMatch(live, term.screen, 5*time.Second) {
		t.Fatalf("no live line:\n%q", term.screen.String())
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	screen := term.text()
	for _, line := range []string{"evicting pod default/web-1\r\n", "\rpod/web-1 evicted\x1b[K\r\n", "node/h1 drained\r\n"} {
		if !strings.Contains(screen, line) {
			t.Fatalf("no %q on the screen:\n%q", line, screen)
		}
	}
	if strings.Contains(screen[strings.LastIndex(screen, "evicted"):], "waiting for") {
		t.Fatalf("the live line was left after the last pod:\n%q", screen)
	}
}

func waitMatch(re *regexp.Regexp, b *syncBuffer, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if re.MatchString(b.String()) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// In a terminal, delete names what it waits for on a live line (stderr).
func TestDeleteShowsTheWaitInATerminal(t *testing.T) {
	term := openTerminal(t)
	srv := clienttest.NewServer(t)
	srv.PodTermination = time.Second
	srv.Add(node("h1", "10.213.0.11", api.ConditionTrue, "2", "8Gi", time.Hour), boundPod("default", "web-1", "h1", "", ""))
	var out syncBuffer
	done := runWith(t, srv, &out, term.tty, "delete", "pod", "web-1")
	live := regexp.MustCompile(`\r[` + strings.Join(spinner, "") + `] waiting for pods/web-1 to be deleted\x1b\[K`)
	if !waitMatch(live, term.screen, 5*time.Second) {
		t.Fatalf("no live line:\n%q", term.screen.String())
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if screen := term.text(); !strings.HasSuffix(screen, "\r\x1b[K") {
		t.Fatalf("the live line was not cleared:\n%q", screen)
	}
	if out.String() != "pod \"web-1\" deleted\n" {
		t.Fatalf("stdout %q", out.String())
	}
}
