package gossip_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// Every goroutine a cluster starts ends with Shutdown: after a cluster has
// run, joined, replicated and stopped, the goroutine count is back where
// it was.
func TestShutdownEndsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("cluster", func(t *testing.T) {
		c := gossiptest.New(t, 3, gossiptest.Options{})
		c.Member(0).Put("k", "v")
		c.Member(1).PutBytes("big", make([]byte, 50_000))
		c.WaitConverged(t, 10*time.Second)
		c.Member(2).Leave()
	})
	poll.Until(t, 10*time.Second, "condition", func() error {
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			return fmt.Errorf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}
