//go:build linux || darwin

package cli

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// In a terminal, rollout status keeps one line, redrawn after a carriage
// return with a spinner, and leaves only the final message on the screen.
func TestRolloutStatusRedrawsOneLineInATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(tty, &pty.Winsize{Cols: 200, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	var screen syncBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&screen, ptmx) // ends when the terminal closes
	}()

	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, &api.DeploymentStatus{ObservedGeneration: 2, Replicas: 8, UpdatedReplicas: 2, AvailableReplicas: 6})
	root := newRoot(&env{now: func() time.Time { return fixedNow }}, nil)
	root.SetArgs([]string{"--server", srv.URL, "--token", srv.Token, "rollout", "status", "deploy/web"})
	root.SetOut(tty)
	var errOut syncBuffer
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, root) }()

	waiting := `Waiting for deployment "web" rollout to finish: 2 out of 6 new replicas have been updated...`
	spun := regexp.MustCompile(`\r[` + strings.Join(spinner, "") + `] ` + regexp.QuoteMeta(waiting) + `\x1b\[K`)
	// The spinner turns while nothing changes: the line is drawn again and again.
	poll.Cond(t, 5*time.Second, "condition", func() bool { return len(spun.FindAllString(screen.String(), -1)) >= 3 })
	setDeploymentStatus(srv, "web", func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 6, UpdatedReplicas: 6, AvailableReplicas: 6}
	})
	if code := <-done; code != 0 {
		t.Fatalf("exit status %d, stderr %q", code, errOut.String())
	}
	tty.Close()
	<-copied
	out := screen.String()
	if !strings.HasSuffix(out, "\r"+`deployment "web" successfully rolled out`+"\x1b[K\r\n") {
		t.Fatalf("the final message must replace the live line:\n%q", out)
	}
	if strings.Contains(out, waiting+"\r\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("progress must stay on one line:\n%q", out)
	}
}
