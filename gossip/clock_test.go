package gossip

import (
	"math"
	"testing"
	"time"
)

// One peer with a clock an hour ahead must not move this clock forward for
// good: an observation moves it at most to now + the maximum offset.
func TestClockObservationIsBounded(t *testing.T) {
	wall := time.UnixMilli(1_700_000_000_000)
	c := newClockWith(func() time.Time { return wall }, 500*time.Millisecond)
	ahead := pack(wall.Add(time.Hour).UnixMilli())
	c.Observe(ahead)
	limit := pack(wall.Add(500*time.Millisecond).UnixMilli()) | 0xffff
	if got := c.Last(); got > limit || got < pack(wall.UnixMilli()) {
		t.Fatalf("after observing an hour ahead the clock is at %s, want at most %s", TimeOf(got), TimeOf(limit))
	}
	if n := c.Now(); n > addSat(limit, 1) {
		t.Fatalf("Now() = %s, beyond now + offset", TimeOf(n))
	}
	// Within the bound, observations are followed as before.
	near := pack(wall.Add(200 * time.Millisecond).UnixMilli())
	c2 := newClockWith(func() time.Time { return wall }, 500*time.Millisecond)
	c2.Observe(near)
	if c2.Now() <= near {
		t.Fatal("an observation within the bound was not followed")
	}
	// Real time catches up: the clock follows the wall clock again.
	wall = wall.Add(2 * time.Hour)
	if n := c.Now(); TimeOf(n).Before(wall) {
		t.Fatalf("Now() = %s after the wall clock moved to %s", TimeOf(n), wall)
	}
}

// A timestamp at 2^64-1 neither overflows the counter nor moves the clock.
func TestClockSaturatesAtMaxUint64(t *testing.T) {
	wall := time.UnixMilli(1_700_000_000_000)
	c := newClockWith(func() time.Time { return wall }, 500*time.Millisecond)
	before := c.Now()
	c.Observe(math.MaxUint64)
	a := c.Now()
	b := c.Now()
	if a <= before || b <= a {
		t.Fatalf("clock not monotonic after observing 2^64-1: %d %d %d", before, a, b)
	}
	if a > c.Bound()+1 {
		t.Fatalf("observing 2^64-1 moved the clock to %d (bound %d)", a, c.Bound())
	}

	// Even a clock already at the top (a wall clock beyond 48 bits of
	// milliseconds, or no bound at all) never wraps to zero.
	top := &Clock{now: func() time.Time { return time.UnixMilli(math.MaxInt64) }, maxOffset: time.Hour, last: math.MaxUint64 - 1}
	for range 3 {
		if n := top.Now(); n != math.MaxUint64 {
			t.Fatalf("Now() at the top = %d, want saturation at 2^64-1", n)
		}
	}
	top.Observe(math.MaxUint64)
	if top.Last() != math.MaxUint64 {
		t.Fatal("observation moved a saturated clock")
	}
	if got := pack(-5); got != 0 {
		t.Fatalf("pack of a time before 1970 = %d", got)
	}
	if got := addSat(math.MaxUint64, 1); got != math.MaxUint64 {
		t.Fatalf("addSat wrapped: %d", got)
	}
}
