package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Peers' clocks are measured from the gossip itself: every probe's ack
// carries the acking member's wall clock, and the prober compares it with
// its own at the midpoint of the round trip, as NTP does. The error of one
// measurement is at most half the round trip, which is reported with it.
//
// The measurement only informs: what protects the cluster is the bound on
// received versions (Clock.Bound). It tells an operator which member's
// clock is off before, or after, its writes are refused.

// clockPayloadFormat starts an ack payload carrying a wall clock.
const clockPayloadFormat = 1

// WithNow makes the store's clock read the given time source instead of
// the system's (tests of clock skew).
func WithNow(now func() time.Time) Option {
	return func(o *storeOptions) { o.now = now }
}

// ClockReading is one member's clock as this agent last measured it.
type ClockReading struct {
	// Offset is how far the member's clock is ahead of this agent's
	// (negative: behind).
	Offset time.Duration
	// Uncertainty bounds the error of Offset: half the round trip.
	Uncertainty time.Duration
	// At is when the measurement was made (zero: never measured).
	At time.Time
}

// Skewed reports whether the member's clock is surely further from this
// agent's than the maximum offset, in either direction.
func (r ClockReading) Skewed(maxOffset time.Duration) bool {
	if r.At.IsZero() {
		return false
	}
	off := r.Offset
	if off < 0 {
		off = -off
	}
	return off-r.Uncertainty > maxOffset
}

type pingDelegate struct{ c *Cluster }

// AckPayload is this agent's wall clock, in microseconds since 1970.
func (p pingDelegate) AckPayload() []byte {
	b := make([]byte, 9)
	b[0] = clockPayloadFormat
	binary.BigEndian.PutUint64(b[1:], uint64(p.c.store.Clock().now().UnixMicro()))
	return b
}

// NotifyPingComplete measures the acking member's clock. A payload of
// another shape (an older agent, or none) is ignored: it only informs.
func (p pingDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	if other == nil || len(payload) != 9 || payload[0] != clockPayloadFormat || rtt < 0 {
		return
	}
	theirs := time.UnixMicro(int64(binary.BigEndian.Uint64(payload[1:])))
	now := p.c.store.Clock().now()
	reading := ClockReading{Offset: theirs.Sub(now.Add(-rtt / 2)), Uncertainty: rtt / 2, At: now}
	if !p.c.members.setClock(other.Name, reading) {
		return
	}
	p.c.updateFence()
	if max := p.c.store.Clock().MaxOffset(); reading.Skewed(max) {
		if ok, suppressed := p.c.limiter.allow("clock/" + other.Name); ok {
			p.c.log.Warn("a member's clock is off by more than the maximum clock offset: its writes stamped beyond it are refused; check NTP on both hosts",
				"member", other.Name, "offset", reading.Offset.Round(time.Millisecond), "uncertainty", reading.Uncertainty.Round(time.Millisecond),
				"max_clock_offset", max, "suppressed", suppressed)
		}
	}
}

// setClock records a reading of a known member; it reports false for a
// name that is no member (nothing is kept for it).
func (ms *membership) setClock(name string, r ClockReading) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.members[name]
	if !ok {
		return false
	}
	m.Clock = r
	return true
}

// countFuture counts a refused write stamped beyond the clock bound
// against its writer, if the writer is a member: the writer's clock runs
// ahead, whoever relayed the write.
func (ms *membership) countFuture(writer string, at time.Time) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if m, ok := ms.members[writer]; ok {
		m.FutureRefused++
		m.LastFutureRefused = at
	}
}

// noteRefusal attributes a refusal of a future version to its writer.
func (c *Cluster) noteRefusal(writer string, err error) {
	if errors.Is(err, ErrFutureVersion) {
		c.members.countFuture(writer, time.Now())
	}
}

// ErrClockAhead refuses a local write while this agent's clock runs ahead
// of the cluster's by more than the maximum offset: its versions would be
// refused by every other agent, and would win every conflict once they
// were not.
var ErrClockAhead = errors.New("gossip: this agent's clock is ahead of the cluster's by more than the maximum clock offset")

// fence holds what decides whether local writes are refused for a clock
// running ahead (see Clock.checkAhead).
type fence struct {
	mu sync.Mutex
	// behind is set while most measured members (at least two) are
	// behind this agent's clock by more than the maximum offset.
	behind string
	// peers is set while this agent has alive peers: alone, its clock
	// stepping back conflicts with nobody.
	peers bool
}

// checkAhead refuses a local write while the clock is fenced: most peers
// measured behind by more than the maximum offset, or, with peers, the
// clock's last value beyond the wall clock by more than twice that (the
// wall clock was set back after versions were stamped ahead: new stamps
// would still be ahead; the margin leaves room for observations within
// the bound).
func (c *Clock) checkAhead() error {
	c.fence.mu.Lock()
	behind, peers := c.fence.behind, c.fence.peers
	c.fence.mu.Unlock()
	if behind != "" {
		return fmt.Errorf("%w: %s; writes resume by themselves once the clocks agree: check NTP on this host", ErrClockAhead, behind)
	}
	if !peers {
		return nil
	}
	last := c.Last()
	if limit := c.boundAt(2 * c.maxOffset); last > limit {
		return fmt.Errorf("%w: it stamped versions up to %s, %s ahead of its wall clock (was the clock set back?); writes resume when the wall clock passes them",
			ErrClockAhead, TimeOf(last).UTC().Format(time.RFC3339Nano), TimeOf(last).Sub(c.now()).Round(time.Millisecond))
	}
	return nil
}

// setFence records what the latest measurements say.
func (c *Clock) setFence(behind string, peers bool) {
	c.fence.mu.Lock()
	c.fence.behind, c.fence.peers = behind, peers
	c.fence.mu.Unlock()
}

// readingFreshness is how long a clock reading counts for the fence.
const readingFreshness = time.Minute

// updateFence decides from the alive peers' fresh readings whether this
// agent's clock runs ahead of most of the cluster: strictly more than half
// of this agent and the peers measured see it ahead by more than the
// maximum offset (beyond the measurements' uncertainty). Two agents alone
// cannot tell whose clock is wrong, so at least two peers must agree.
func (c *Cluster) updateFence() {
	clock := c.store.Clock()
	now := clock.now()
	maxOffset := clock.MaxOffset()
	peers := c.members.peers()
	measured, behind := 0, 0
	var worst time.Duration
	for _, m := range peers {
		r := m.Clock
		if r.At.IsZero() || now.Sub(r.At) > readingFreshness {
			continue
		}
		measured++
		if -r.Offset-r.Uncertainty > maxOffset {
			behind++
			worst = max(worst, -r.Offset)
		}
	}
	reason := ""
	if behind >= 2 && 2*behind > measured+1 {
		reason = fmt.Sprintf("%d of the %d members measured are behind it by up to %s (more than --max-clock-offset %s)",
			behind, measured, worst.Round(time.Millisecond), maxOffset)
	}
	prev := clock.fenceReason()
	clock.setFence(reason, len(peers) > 0)
	switch {
	case reason != "" && prev == "":
		c.log.Error("this agent's clock runs ahead of the cluster's: local writes are refused until the clocks agree; check NTP on this host", "detail", reason)
	case reason == "" && prev != "":
		c.log.Info("this agent's clock agrees with the cluster's again: local writes resume")
	}
}

func (c *Clock) fenceReason() string {
	c.fence.mu.Lock()
	defer c.fence.mu.Unlock()
	return c.fence.behind
}
