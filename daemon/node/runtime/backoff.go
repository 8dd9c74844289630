package runtime

import "time"

// BackoffPolicy is the crash-loop back-off: the first restart is immediate,
// then the delay starts at Initial and doubles up to Max; a container that
// ran for ResetAfter starts over.
type BackoffPolicy struct {
	Initial    time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// DefaultBackoff is the policy of design section 5, as the kubelet's.
var DefaultBackoff = BackoffPolicy{Initial: 10 * time.Second, Max: 5 * time.Minute, ResetAfter: 10 * time.Minute}

type backoffEntry struct {
	delay time.Duration // wait after the next failure
}

// restartAt says when a container that ran from started to finished may be
// started again.
func (p BackoffPolicy) restartAt(e *backoffEntry, started, finished time.Time) time.Time {
	if e == nil || finished.Sub(started) >= p.ResetAfter {
		return finished
	}
	return finished.Add(e.delay)
}

// next advances the entry after a restart.
func (p BackoffPolicy) next(e *backoffEntry, started, finished time.Time) *backoffEntry {
	if e == nil || finished.Sub(started) >= p.ResetAfter || e.delay == 0 {
		return &backoffEntry{delay: p.Initial}
	}
	return &backoffEntry{delay: min(2*e.delay, p.Max)}
}
