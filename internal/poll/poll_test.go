package poll

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder catches Fatalf so the failing path can be asserted.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r) // stands for FailNow's runtime.Goexit
}

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Until(t, time.Second, "third call", func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

func TestUntilFailsAfterTheTimeout(t *testing.T) {
	r := &recorder{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != r {
				t.Fatalf("Until did not fail the test (recovered %v)", p)
			}
		}()
		True(r, 50*time.Millisecond, "never", func() (bool, string) { return false, "still false" })
	}()
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("failed after %s, before the 50ms timeout", el)
	}
	if !strings.Contains(r.failed, "never") || !strings.Contains(r.failed, "still false") {
		t.Fatalf("failure %q does not name the condition and its last reason", r.failed)
	}
}
