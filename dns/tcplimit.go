package dns

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// limitListener bounds the TCP connections served at once, in all and per
// source address. A connection past either bound is closed as soon as it
// is accepted: the client learns at once, and holding it in the backlog
// would let one client's idle connections starve every other. miekg's
// server gives each connection a goroutine, so this bounds them too, and
// its read and idle timeouts bound how long one is held.
type limitListener struct {
	net.Listener
	max, perSource int
	rejected       *atomic.Uint64

	mu    sync.Mutex
	total int
	bySrc map[netip.Addr]int
}

func newLimitListener(l net.Listener, max, perSource int, rejected *atomic.Uint64) *limitListener {
	return &limitListener{Listener: l, max: max, perSource: perSource, rejected: rejected, bySrc: map[netip.Addr]int{}}
}

// Accept returns the next connection within the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr())
		if l.take(src) {
			return &limitedConn{Conn: c, l: l, src: src}, nil
		}
		l.rejected.Add(1)
		c.Close()
	}
}

func (l *limitListener) take(src netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.bySrc[src] >= l.perSource {
		return false
	}
	l.total++
	l.bySrc[src]++
	return true
}

func (l *limitListener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.bySrc[src]--; l.bySrc[src] <= 0 {
		delete(l.bySrc, src)
	}
}

// limitedConn gives its place back when closed, once.
type limitedConn struct {
	net.Conn
	l    *limitListener
	src  netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}
