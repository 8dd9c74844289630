package dns

import (
	"hash/maphash"
	"net/netip"
	"testing"
	"time"
)

func TestRateLimiterBucket(t *testing.T) {
	l := newRateLimiter(10, 20, 2, 1024, nil)
	a := netip.MustParseAddr("203.0.113.9")
	now := time.Duration(0)
	for i := range 20 {
		if v := l.allow(a, now); v != allowed {
			t.Fatalf("query %d of the burst: %v", i, v)
		}
	}
	// Over the burst: every second one slips, the others are dropped.
	var got []verdict
	for range 6 {
		got = append(got, l.allow(a, now))
	}
	want := []verdict{dropped, slipped, dropped, slipped, dropped, slipped}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("over the limit: %v, want %v", got, want)
		}
	}
	// Another source has its own bucket.
	if v := l.allow(netip.MustParseAddr("203.0.113.10"), now); v != allowed {
		t.Errorf("another source: %v", v)
	}
	// 10 per second: after 500 ms, five more.
	now += 500 * time.Millisecond
	for i := range 5 {
		if v := l.allow(a, now); v != allowed {
			t.Fatalf("refilled query %d: %v", i, v)
		}
	}
	if v := l.allow(a, now); v == allowed {
		t.Error("a sixth after 500 ms")
	}
	// Refilled to the burst, never more.
	now += time.Hour
	n := 0
	for l.allow(a, now) == allowed {
		n++
	}
	if n != 20 {
		t.Errorf("after an hour, %d allowed at once, want the burst (20)", n)
	}
}

func TestRateLimiterOffExemptAndNoSlip(t *testing.T) {
	if l := newRateLimiter(-1, 10, 2, 100, nil); l != nil {
		t.Fatal("a negative rate made a limiter")
	}
	var off *rateLimiter
	if off.allow(netip.MustParseAddr("203.0.113.9"), 0) != allowed || off.sources() != 0 {
		t.Error("a nil limiter limits")
	}
	pods := netip.MustParsePrefix("10.244.0.0/16")
	l := newRateLimiter(1, 1, -1, 100, pods.Contains)
	for range 100 {
		if l.allow(netip.MustParseAddr("10.244.1.5"), 0) != allowed {
			t.Fatal("an exempt source was limited")
		}
	}
	stranger := netip.MustParseAddr("203.0.113.9")
	l.allow(stranger, 0)
	for range 10 {
		if v := l.allow(stranger, 0); v != dropped {
			t.Fatalf("without slip: %v, want dropped", v)
		}
	}
	if l.sources() != 1 {
		t.Errorf("%d sources tracked, want 1 (exempt ones are not)", l.sources())
	}
}

// The table is bounded whatever the number of sources (a spoofed flood
// has any number), and forgets idle sources before busy ones.
func TestRateLimiterTableBounded(t *testing.T) {
	const tableSize = 1024
	l := newRateLimiter(10, 5, 0, tableSize, nil)
	busy := netip.MustParseAddr("192.0.2.1")
	now := time.Duration(0)
	for range 5 {
		l.allow(busy, now)
	}
	if l.allow(busy, now) != dropped {
		t.Fatal("busy source not limited")
	}
	// 100,000 other sources, each once, 200 µs apart: each one's bucket is
	// full again (idle) 100 ms later; the busy one asks every 2 ms, more
	// than its rate, and stays limited.
	a := netip.MustParseAddr("10.0.0.0").As4()
	for i := range 100_000 {
		now += 200 * time.Microsecond
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		l.allow(netip.AddrFrom4(a), now)
		if i%10 == 0 {
			l.allow(busy, now)
		}
		if n := l.sources(); n > tableSize {
			t.Fatalf("%d sources tracked, bound %d", n, tableSize)
		}
	}
	sh := &l.shards[maphash.Comparable(l.seed, busy)%limiterShards]
	if b, ok := sh.buckets[busy]; !ok || b.tokens >= 1 || b.limited < 1000 {
		t.Errorf("busy source after the flood: %+v (tracked %v), want its bucket kept, empty", b, ok)
	}
}
