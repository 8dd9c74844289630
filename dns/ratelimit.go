package dns

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// verdict is what the limiter says of one query.
type verdict uint8

const (
	allowed verdict = iota
	dropped         // over the limit: no answer
	slipped         // over the limit: an empty truncated answer
)

// rateLimiter is a token bucket per source address, against floods and
// against reflection: a spoofed source is a victim, and the answers it
// gets are bounded by the bucket, whatever the attacker sends. The table of
// buckets is bounded; a full table forgets idle sources first (a bucket
// refilled to its burst is the same as none), then arbitrary ones.
type rateLimiter struct {
	rate   float64 // tokens per second
	burst  float64
	slip   uint32 // every slip-th limited query slips; 0: none
	max    int    // buckets per shard
	exempt func(netip.Addr) bool
	epoch  time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const limiterShards = 16

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]bucket
}

type bucket struct {
	tokens  float64
	last    time.Duration // since epoch, when tokens were counted
	limited uint32        // queries refused since the bucket was made
}

// newRateLimiter makes a limiter; nil (no limit) for a rate <= 0.
func newRateLimiter(rate float64, burst, slip, sources int, exempt func(netip.Addr) bool) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	l := &rateLimiter{rate: rate, burst: float64(max(burst, 1)), max: max(sources/limiterShards, 8),
		exempt: exempt, epoch: time.Now(), seed: maphash.MakeSeed()}
	if slip > 0 {
		l.slip = uint32(slip)
	}
	for i := range l.shards {
		l.shards[i].buckets = map[netip.Addr]bucket{}
	}
	return l
}

// now is the limiter's clock: monotonic time since it was made.
func (l *rateLimiter) now() time.Duration { return time.Since(l.epoch) }

// allow takes a token for one query from a. A nil limiter allows all.
func (l *rateLimiter) allow(a netip.Addr, now time.Duration) verdict {
	if l == nil || (l.exempt != nil && l.exempt(a)) {
		return allowed
	}
	sh := &l.shards[maphash.Comparable(l.seed, a)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.buckets[a]
	if !ok {
		if len(sh.buckets) >= l.max {
			l.evict(sh, now)
		}
		b = bucket{tokens: l.burst, last: now}
	}
	b.tokens = min(l.burst, b.tokens+(now-b.last).Seconds()*l.rate)
	b.last = now
	v := allowed
	if b.tokens >= 1 {
		b.tokens--
	} else {
		b.limited++
		v = dropped
		if l.slip > 0 && b.limited%l.slip == 0 {
			v = slipped
		}
	}
	sh.buckets[a] = b
	return v
}

// evict makes room in a full shard: every idle bucket goes, and if that
// frees less than an eighth, arbitrary ones too, so that the next
// evictions are an eighth of the shard away.
func (l *rateLimiter) evict(sh *limiterShard, now time.Duration) {
	for a, b := range sh.buckets {
		if b.tokens+(now-b.last).Seconds()*l.rate >= l.burst {
			delete(sh.buckets, a)
		}
	}
	keep := l.max - l.max/8
	for a := range sh.buckets {
		if len(sh.buckets) <= keep {
			break
		}
		delete(sh.buckets, a)
	}
}

// sources is how many sources the limiter tracks now.
func (l *rateLimiter) sources() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}
