package gossip

import (
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// A clock set back after it stamped versions ahead keeps stamping ahead
// (its last value): with peers, local writes wait until the wall clock
// passes it; alone, they go on.
func TestClockSetBackFencesWritesWhileThereArePeers(t *testing.T) {
	wall := time.Now()
	c := newClockWith(func() time.Time { return wall }, 500*time.Millisecond)
	c.Now()
	wall = wall.Add(-10 * time.Second) // NTP steps the clock back
	c.setFence("", true)
	if err := c.checkAhead(); !errors.Is(err, ErrClockAhead) {
		t.Fatalf("with peers: %v, want ErrClockAhead", err)
	}
	c.setFence("", false)
	if err := c.checkAhead(); err != nil {
		t.Fatalf("alone: %v", err)
	}
	c.setFence("", true)
	wall = wall.Add(10 * time.Second)
	if err := c.checkAhead(); err != nil {
		t.Fatalf("once the wall clock passed the last stamp: %v", err)
	}
	// An observation within the bound is no reason to refuse.
	c.Observe(c.Bound())
	if err := c.checkAhead(); err != nil {
		t.Fatalf("after observing a stamp at the bound: %v", err)
	}
	c.setFence("2 of the 2 members measured are behind", true)
	if err := c.checkAhead(); !errors.Is(err, ErrClockAhead) {
		t.Fatalf("most members behind: %v, want ErrClockAhead", err)
	}
}

func TestClockReadingSkewed(t *testing.T) {
	max := 500 * time.Millisecond
	at := time.Now()
	for _, tc := range []struct {
		r    ClockReading
		want bool
	}{
		{ClockReading{}, false},
		{ClockReading{Offset: time.Hour}, false}, // never measured
		{ClockReading{Offset: 600 * time.Millisecond, Uncertainty: 50 * time.Millisecond, At: at}, true},
		{ClockReading{Offset: 600 * time.Millisecond, Uncertainty: 200 * time.Millisecond, At: at}, false},
		{ClockReading{Offset: -time.Second, At: at}, true},
		{ClockReading{Offset: 400 * time.Millisecond, At: at}, false},
	} {
		if got := tc.r.Skewed(max); got != tc.want {
			t.Errorf("%+v: Skewed = %v, want %v", tc.r, got, tc.want)
		}
	}
}

// Any ack payload is safe: only the exact shape is read.
func TestPingPayloadOfAnyShapeIsSafe(t *testing.T) {
	c := &Cluster{members: newMembership("self"), store: &Store{clock: NewClock()},
		limiter: newLogLimiter(time.Second), log: slog.New(slog.DiscardHandler)}
	peer := &memberlist.Node{Name: "peer", Addr: net.IPv4(127, 0, 0, 1), Port: 7946}
	c.members.update(peer, StateAlive, NodeMeta{}, false)
	p := pingDelegate{c: c}
	for _, payload := range [][]byte{nil, {}, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 100)} {
		p.NotifyPingComplete(peer, time.Millisecond, payload)
		p.NotifyPingComplete(nil, time.Millisecond, payload)
	}
	if r := c.members.list()[0].Clock; !r.At.IsZero() {
		t.Fatalf("a payload of another shape was read: %+v", r)
	}
	// Extreme clocks are only readings.
	for _, payload := range [][]byte{{1, 255, 255, 255, 255, 255, 255, 255, 255}, {1, 127, 255, 255, 255, 255, 255, 255, 255}, {1, 0, 0, 0, 0, 0, 0, 0, 0}} {
		p.NotifyPingComplete(peer, time.Millisecond, payload)
	}
	p.NotifyPingComplete(&memberlist.Node{Name: "stranger"}, time.Millisecond, p.AckPayload())
	if n := len(c.members.list()); n != 1 {
		t.Fatalf("a reading of a stranger was kept: %d members", n)
	}
	p.NotifyPingComplete(peer, 2*time.Millisecond, p.AckPayload())
	if r := c.members.list()[0].Clock; r.At.IsZero() || r.Offset < -time.Second || r.Offset > time.Second || r.Uncertainty != time.Millisecond {
		t.Fatalf("a reading of a clock in step: %+v", r)
	}
	if got := p.AckPayload(); len(got) != 9 || got[0] != clockPayloadFormat {
		t.Fatalf("AckPayload %v", got)
	}
}
