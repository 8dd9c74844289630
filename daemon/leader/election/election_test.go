package election

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/membership"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestLowestLiveMemberLeadsAfterSettling(t *testing.T) {
	mem := &membership.Static{}
	now := time.Now()
	mem.Set(membership.Member{Name: "h2", Alive: true, Since: now}, membership.Member{Name: "h3", Alive: true, Since: now})
	l := New("h2", mem, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	var leading atomic.Int32
	var terms atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func(ctx context.Context) {
			terms.Add(1)
			leading.Store(1)
			<-ctx.Done()
			leading.Store(0)
		})
	}()
	poll.True(t, 10*time.Second, "h2 leads", func() (bool, string) { return leading.Load() == 1 && l.Leader() == "h2", l.Leader() })
	// h1 joins: after the settle time it leads and h2 steps down.
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: true, Since: now},
		membership.Member{Name: "h3", Alive: true, Since: now})
	time.Sleep(30 * time.Millisecond)
	if leading.Load() != 1 {
		t.Fatal("stepped down before membership settled")
	}
	poll.True(t, 10*time.Second, "h2 steps down", func() (bool, string) { return leading.Load() == 0 && l.Leader() == "h1", l.Leader() })
	// h1 dies: h2 leads again, in a new term.
	mem.Set(membership.Member{Name: "h1", Alive: false, Since: now}, membership.Member{Name: "h2", Alive: true, Since: now})
	poll.True(t, 10*time.Second, "h2 leads again", func() (bool, string) { return leading.Load() == 1 && terms.Load() == 2, l.Leader() })
	cancel()
	<-done
	if leading.Load() != 0 {
		t.Fatal("the term did not end with the agent")
	}
}
