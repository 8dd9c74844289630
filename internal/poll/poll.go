package poll

import (
	"fmt"
	"testing"
	"time"
)

// MaxInterval caps the pause between checks. The first checks follow each
// other within a millisecond or two, so that a quick condition costs a
// quick test and a latency a test logs is close to the truth.
const MaxInterval = 20 * time.Millisecond

// Until checks cond until it returns nil, failing the test with what and
// cond's last error if it does not within timeout. It returns how long
// the condition took.
func Until(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	pause := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not reached within %s: %v", what, timeout, err)
			return time.Since(start)
		}
		time.Sleep(pause)
		pause = min(2*pause, MaxInterval)
	}
}

// True is Until for a condition that reports a bool and, when false, what
// it saw.
func True(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return Until(t, timeout, what, func() error {
		if ok, seen := cond(); !ok {
			return fmt.Errorf("last saw: %s", seen)
		}
		return nil
	})
}

// Cond is Until for a condition that reports only a bool.
func Cond(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Until(t, timeout, what, func() error {
		if !cond() {
			return fmt.Errorf("still false")
		}
		return nil
	})
}
