// Package gossip holds the replicated object store: versioned records merged by
// last writer wins, tombstones, local persistence in bbolt, ordered watches, and
// (with memberlist) the membership and replication between agents.
package gossip

import (
	"sync"
	"time"
)

// Clock is a hybrid logical clock packed into 64 bits: wall-clock milliseconds in
// the high 48 bits and a logical counter in the low 16. Every value it hands out
// is greater than every value it handed out or observed before, and stays close
// to real time, so versions order writes across nodes without synchronised clocks.
type Clock struct {
	mu   sync.Mutex
	last uint64
	now  func() time.Time
}

// NewClock returns a clock reading the system time.
func NewClock() *Clock { return &Clock{now: time.Now} }

// newClockWith returns a clock reading the given time source (tests).
func newClockWith(now func() time.Time) *Clock { return &Clock{now: now} }

// physical returns the wall clock packed as an HLC value with a zero counter.
func (c *Clock) physical() uint64 { return uint64(c.now().UnixMilli()) << 16 }

// Now returns a new timestamp, greater than any before.
func (c *Clock) Now() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last+1, c.physical())
	return c.last
}

// Observe moves the clock past a timestamp seen from elsewhere.
func (c *Clock) Observe(ts uint64) {
	c.mu.Lock()
	if ts > c.last {
		c.last = ts
	}
	c.mu.Unlock()
}

// Last returns the latest timestamp handed out or observed.
func (c *Clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// TimeOf returns the wall-clock part of a timestamp.
func TimeOf(ts uint64) time.Time { return time.UnixMilli(int64(ts >> 16)) }
