package dns

import (
	"container/list"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// cacheKey is one question.
type cacheKey struct {
	name   string // lower case
	qtype  uint16
	qclass uint16
}

// reply is an upstream's answer, without its header and OPT record.
type reply struct {
	rcode  int
	answer []mdns.RR
	ns     []mdns.RR
	extra  []mdns.RR
}

type cacheEntry struct {
	key     cacheKey
	r       reply
	stored  time.Time
	expires time.Time
	cap     uint32 // the TTL the entry is kept for, in seconds
}

// cache keeps forwarded answers for their TTL, capped, least recently used
// first out. Its entries are never handed out: get returns copies whose TTLs
// count down, so clients never keep an answer longer than we do.
type cache struct {
	mu      sync.Mutex
	size    int
	maxTTL  time.Duration
	maxNeg  time.Duration
	now     func() time.Time
	entries map[cacheKey]*list.Element
	lru     *list.List // front: most recently used
}

func newCache(size int, maxTTL, maxNeg time.Duration) *cache {
	return &cache{size: size, maxTTL: maxTTL, maxNeg: maxNeg, now: time.Now,
		entries: map[cacheKey]*list.Element{}, lru: list.New()}
}

func (c *cache) get(k cacheKey) (reply, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return reply{}, false
	}
	e := el.Value.(*cacheEntry)
	now := c.now()
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return reply{}, false
	}
	c.lru.MoveToFront(el)
	age := uint32(now.Sub(e.stored) / time.Second)
	return reply{
		rcode:  e.r.rcode,
		answer: aged(e.r.answer, e.cap, age),
		ns:     aged(e.r.ns, e.cap, age),
		extra:  aged(e.r.extra, e.cap, age),
	}, true
}

// aged copies records with their TTL capped and decreased by age.
func aged(rrs []mdns.RR, capTTL, age uint32) []mdns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		cp := mdns.Copy(rr)
		h := cp.Header()
		h.Ttl = min(h.Ttl, capTTL)
		if h.Ttl > age {
			h.Ttl -= age
		} else {
			h.Ttl = 0
		}
		out[i] = cp
	}
	return out
}

// put keeps an answer if it may be cached: NOERROR with records for their
// least TTL, NXDOMAIN and NODATA for the SOA minimum (RFC 2308); never a
// failure or a negative answer without SOA. It returns the answer as
// clients get it: TTLs capped to the time it is kept, as later hits show.
func (c *cache) put(k cacheKey, r reply) reply {
	ttl, ok := c.ttlOf(r)
	if !ok || ttl <= 0 {
		return r
	}
	now := c.now()
	e := &cacheEntry{key: k, r: r, stored: now, expires: now.Add(ttl), cap: uint32(ttl / time.Second)}
	out := reply{rcode: r.rcode, answer: aged(r.answer, e.cap, 0), ns: aged(r.ns, e.cap, 0), extra: aged(r.extra, e.cap, 0)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return out
	}
	c.entries[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	return out
}

func (c *cache) ttlOf(r reply) (time.Duration, bool) {
	switch {
	case r.rcode == mdns.RcodeSuccess && len(r.answer) > 0:
		least := r.answer[0].Header().Ttl
		for _, rr := range r.answer[1:] {
			least = min(least, rr.Header().Ttl)
		}
		return min(time.Duration(least)*time.Second, c.maxTTL), true
	case r.rcode == mdns.RcodeSuccess || r.rcode == mdns.RcodeNameError:
		for _, rr := range r.ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				neg := min(soa.Hdr.Ttl, soa.Minttl)
				return min(time.Duration(neg)*time.Second, c.maxNeg), true
			}
		}
	}
	return 0, false
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
