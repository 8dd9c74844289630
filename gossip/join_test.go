package gossip_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// recorder keeps the messages logged at warning level and above.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// freeAddr returns a loopback address nobody listens on (for now).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start returns at once although the peer to join is not there; joining
// retries in the background, logging the failure once in a while, and
// succeeds when the peer comes up.
func TestJoinRetriesUntilAPeerAnswers(t *testing.T) {
	logs := &recorder{}
	c := gossiptest.Empty(t, gossiptest.Options{Log: slog.New(logs)})
	later := freeAddr(t)
	start := time.Now()
	a, err := c.Add("a", later)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Start took %s", d)
	}
	poll.Until(t, 10*time.Second, "condition", func() error {
		if st := a.Cluster().Stats(); st.JoinFailures < 5 {
			return fmt.Errorf("%d join failures", st.JoinFailures)
		}
		return nil
	})
	if n := logs.count("join: no peer answered (tried " + later + "); retrying in"); n == 0 || n > 2 {
		t.Fatalf("logged the join failure %d times, want once in a while: %q", n, logs.msgs)
	}
	if _, err := c.AddAt("b", later); err != nil {
		t.Fatal(err)
	}
	c.WaitMembers(t, 10*time.Second)
	poll.Until(t, 10*time.Second, "condition", func() error { // counted once the join returns
		if st := a.Cluster().Stats(); st.Joins == 0 {
			return fmt.Errorf("a joined without a join? %+v", st)
		}
		return nil
	})
}
