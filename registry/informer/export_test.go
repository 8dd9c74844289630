package informer

import "time"

// SetUnclaimedTTL sets how long a List's listener waits for its Watch, until
// the test ends.
func SetUnclaimedTTL(d time.Duration) (restore func()) {
	old := unclaimedTTL
	unclaimedTTL = d
	return func() { unclaimedTTL = old }
}
