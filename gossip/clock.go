package gossip

import (
	"math"
	"sync"
	"time"
)

// DefaultMaxClockOffset is how far ahead of this agent's wall clock a
// timestamp from elsewhere may be (the agent's --max-clock-offset).
const DefaultMaxClockOffset = 500 * time.Millisecond

// Clock is a hybrid logical clock packed into 64 bits: wall-clock milliseconds in
// the high 48 bits and a logical counter in the low 16. Every value it hands out
// is greater than every value it handed out or observed before, and stays close
// to real time, so versions order writes across nodes without synchronised clocks.
//
// Observations are bounded: a timestamp from elsewhere moves the clock at
// most to now + the maximum offset, so one peer with a clock running ahead
// (or a forged timestamp) cannot drag every agent's clock into the future.
type Clock struct {
	mu        sync.Mutex
	last      uint64
	now       func() time.Time
	maxOffset time.Duration
	fence     fence
}

// NewClock returns a clock reading the system time, bounded by
// DefaultMaxClockOffset.
func NewClock() *Clock { return &Clock{now: time.Now, maxOffset: DefaultMaxClockOffset} }

// newClockWith returns a clock reading the given time source (tests).
func newClockWith(now func() time.Time, maxOffset time.Duration) *Clock {
	return &Clock{now: now, maxOffset: maxOffset}
}

// counterBits is the width of the logical counter.
const counterBits = 16

// pack turns wall-clock milliseconds into an HLC value with a zero
// counter, saturating: before 1970 is 0, beyond the 48 bits is the largest
// millisecond.
func pack(ms int64) uint64 {
	switch {
	case ms <= 0:
		return 0
	case ms >= 1<<(64-counterBits):
		return math.MaxUint64 &^ (1<<counterBits - 1)
	}
	return uint64(ms) << counterBits
}

// physical returns the wall clock packed as an HLC value with a zero counter.
func (c *Clock) physical() uint64 { return pack(c.now().UnixMilli()) }

// addSat is a + b, or the largest value instead of wrapping.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// Now returns a new timestamp, greater than any before.
func (c *Clock) Now() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(addSat(c.last, 1), c.physical())
	return c.last
}

// Observe moves the clock past a timestamp seen from elsewhere, but never
// beyond Bound: callers refuse what lies beyond it.
func (c *Clock) Observe(ts uint64) {
	bound := c.Bound()
	c.mu.Lock()
	if ts = min(ts, bound); ts > c.last {
		c.last = ts
	}
	c.mu.Unlock()
}

// Bound returns the newest timestamp accepted from elsewhere now: any
// counter value within the millisecond of now + the maximum offset.
func (c *Clock) Bound() uint64 {
	return c.boundAt(c.maxOffset)
}

// boundAt returns the newest timestamp of the millisecond now + d (d may
// be negative).
func (c *Clock) boundAt(d time.Duration) uint64 {
	t := c.now().Add(d).UnixMilli()
	if t < 0 {
		return 0
	}
	return pack(t) | (1<<counterBits - 1)
}

// MaxOffset returns the maximum offset of timestamps from elsewhere.
func (c *Clock) MaxOffset() time.Duration { return c.maxOffset }

// Restored moves the clock to the next millisecond after the newest
// timestamp it holds, once the stored records were read at start. Stamps
// handed out before a restart and never stored (watch positions) lie in
// that millisecond at the latest, since wall time only moved on since:
// none is handed out twice.
func (c *Clock) Restored() {
	bound := c.Bound()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == 0 {
		return
	}
	next := addSat(c.last|(1<<counterBits-1), 1)
	c.last = max(c.last, min(next, bound))
}

// Last returns the latest timestamp handed out or observed.
func (c *Clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// TimeOf returns the wall-clock part of a timestamp.
func TimeOf(ts uint64) time.Time { return time.UnixMilli(int64(ts >> counterBits)) }

// TimestampOf is the first timestamp of t's millisecond: TimeOf's inverse.
func TimestampOf(t time.Time) uint64 { return pack(t.UnixMilli()) }
