package poll

import (
	"fmt"
	"testing"
	"time"
)

// Interval is how often a condition is checked.
const Interval = 10 * time.Millisecond

// Until checks cond until it returns nil, failing the test with what and
// cond's last error if it does not within timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, timeout, err)
		}
		time.Sleep(Interval)
	}
}

// True is Until for a condition that reports a bool and, when false, why.
func True(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	Until(t, timeout, what, func() error {
		if ok, why := cond(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
}
