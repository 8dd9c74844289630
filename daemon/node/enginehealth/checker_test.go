package enginehealth

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

func startChecker(t *testing.T, eng Pinger, failures int) *Checker {
	t.Helper()
	c := New(eng, Config{Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, Failures: failures},
		slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// waitChange waits for a notification of the subscription.
func waitChange(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no notification: %s", what)
	}
}

func TestCheckerReportsADownEngineAndItsReturn(t *testing.T) {
	eng := enginetest.New()
	c := startChecker(t, eng, 2)
	changes, unsubscribe := c.Subscribe()
	defer unsubscribe()
	if !c.Status().Healthy {
		t.Fatal("a new checker is not healthy")
	}
	eng.SetUnavailable(true)
	waitChange(t, changes, "engine down")
	st := c.Status()
	if st.Healthy || !errors.Is(st.Err, engine.ErrUnavailable) {
		t.Fatalf("status with the engine down: %+v", st)
	}
	eng.SetUnavailable(false)
	waitChange(t, changes, "engine back")
	if st := c.Status(); !st.Healthy || st.Err != nil {
		t.Fatalf("status with the engine back: %+v", st)
	}
}

// An engine that accepts and never answers fails the check by its timeout.
func TestCheckerReportsAHungEngine(t *testing.T) {
	eng := enginetest.New()
	c := startChecker(t, eng, 2)
	eng.SetHung(true)
	poll.Until(t, 5*time.Second, "a hung engine reported", func() error {
		if st := c.Status(); st.Healthy || !errors.Is(st.Err, context.DeadlineExceeded) {
			return errors.New("still healthy")
		}
		return nil
	})
	eng.SetHung(false)
	poll.Cond(t, 5*time.Second, "healthy again", func() bool { return c.Status().Healthy })
}

// One failed ping among answered ones is not an outage.
func TestCheckerToleratesASingleFailure(t *testing.T) {
	eng := enginetest.New()
	calls := 0
	eng.PingFn = func(context.Context) error {
		calls++
		if calls%2 == 0 {
			return engine.ErrUnavailable
		}
		return nil
	}
	c := startChecker(t, eng, 2)
	poll.Cond(t, 5*time.Second, "a few pings", func() bool { return eng.CallCount("Ping") >= 10 })
	if st := c.Status(); !st.Healthy {
		t.Fatalf("one failure in two declared the engine down: %+v", st)
	}
}
