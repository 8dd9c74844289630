package dns

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Bounds of one zone's cache of packed answers. A zone lives until the
// cluster changes, so a flood of distinct names could otherwise grow it
// without end; past the bounds queries are answered without caching.
const (
	maxCachedAnswers = 10000
	maxCachedBytes   = 16 << 20
)

// answerCache holds a zone's packed answers by query key (see
// rawQuery.key). It belongs to one zone and is dropped with it, so no
// answer outlives the state it came from.
//
// Reads take no lock: they look in an immutable map behind an atomic
// pointer. New entries go to a locked map that replaces the immutable one
// once reads have missed it as many times as it has entries; this is
// sync.Map's scheme, which we do not use because boxing a []byte key in an
// interface allocates on every read, and indexing a map with
// string(key) does not.
type answerCache struct {
	read atomic.Pointer[readOnlyAnswers]

	mu     sync.Mutex
	dirty  map[string]*fastAnswer // read's entries and the ones added since; nil when read has them all
	misses int                    // reads that missed read since dirty was made
	bytes  int                    // an estimate of the memory held
}

type readOnlyAnswers struct {
	m       map[string]*fastAnswer
	amended bool // dirty holds entries m does not
}

// get returns the entry of key, or nil.
func (c *answerCache) get(key []byte) *fastAnswer {
	read := c.read.Load()
	if read == nil {
		return nil // nothing was ever put
	}
	if a := read.m[string(key)]; a != nil || !read.amended {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.read.Load().m[string(key)]; a != nil || c.dirty == nil {
		return a // published since, or not there
	}
	a := c.dirty[string(key)]
	c.missed()
	return a
}

// missed counts a read that had to lock, and publishes dirty when reads
// have missed enough to pay for copying it again on the next put.
func (c *answerCache) missed() {
	c.misses++
	if c.misses < len(c.dirty) {
		return
	}
	c.read.Store(&readOnlyAnswers{m: c.dirty})
	c.dirty, c.misses = nil, 0
}

// put keeps a for key unless the cache is full; size is a's memory.
func (c *answerCache) put(key string, a *fastAnswer, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ro map[string]*fastAnswer
	if read := c.read.Load(); read != nil {
		ro = read.m
	}
	if _, ok := ro[key]; ok {
		return
	}
	if c.dirty == nil {
		if len(ro) >= maxCachedAnswers || c.bytes+size > maxCachedBytes {
			return
		}
		c.dirty = maps.Clone(ro)
		if c.dirty == nil {
			c.dirty = map[string]*fastAnswer{}
		}
		c.read.Store(&readOnlyAnswers{m: ro, amended: true})
	}
	if _, ok := c.dirty[key]; ok || len(c.dirty) >= maxCachedAnswers || c.bytes+size > maxCachedBytes {
		return
	}
	c.dirty[key] = a
	c.bytes += size + len(key)
}

// size is the number of entries.
func (c *answerCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty != nil {
		return len(c.dirty)
	}
	if read := c.read.Load(); read != nil {
		return len(read.m)
	}
	return 0
}
