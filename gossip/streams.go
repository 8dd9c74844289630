package gossip

import (
	"errors"
	"net"
	"sync"
	"time"
)

// The gossip port's TCP listener carries two protocols: memberlist's
// streams (push/pull, which begin with its label header) and TLS, which the
// agent uses for its own agent-to-agent endpoints (joins, record pulls,
// forwarded logs and exec). A connection is told apart by its first byte:
// 0x16 opens every TLS handshake, and no memberlist message type has that
// value. So one port serves both, as the design's --bind contract says.

// tlsHandshake is the first byte of a TLS client hello record.
const tlsHandshake = 0x16

const (
	// sortTimeout bounds how long a connection may take to send its
	// first byte.
	sortTimeout = 5 * time.Second
	// maxSorting bounds the connections waiting for their first byte.
	maxSorting = 256
	// tlsBacklog bounds TLS connections not yet accepted.
	tlsBacklog = 128
)

// sortStreams reads the accepted connections and hands each to memberlist
// or to the TLS listener. It ends when quit closes.
func (t *transport) sortStreams() {
	in := t.accepted
	slots := make(chan struct{}, maxSorting)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		sorting = map[net.Conn]struct{}{}
	)
	defer func() {
		// A connection still silent holds its sorter in Read: close it.
		mu.Lock()
		for c := range sorting {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		var conn net.Conn
		select {
		case <-t.quit:
			return
		case conn = <-in:
		}
		conn = &countedConn{Conn: conn, c: t.stats}
		// At most maxSorting connections wait for their first byte; beyond,
		// the accept loop waits and the kernel's backlog holds the
		// rest.
		select {
		case slots <- struct{}{}:
		case <-t.quit:
			conn.Close()
			return
		}
		mu.Lock()
		sorting[conn] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-slots }()
			t.sortOne(conn, func() {
				mu.Lock()
				delete(sorting, conn)
				mu.Unlock()
			})
		})
	}
}

func (t *transport) sortOne(conn net.Conn, sorted func()) {
	var first [1]byte
	_ = conn.SetReadDeadline(time.Now().Add(sortTimeout))
	_, err := conn.Read(first[:])
	sorted()
	if err != nil {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: conn, first: first[0], pending: true}
	if first[0] == tlsHandshake {
		if !t.tls.offer(pc) {
			conn.Close()
		}
		return
	}
	if t.blocked != nil && t.blocked(conn.RemoteAddr().String()) {
		conn.Close()
		return
	}
	select {
	case t.streams <- pc:
	case <-t.quit:
		conn.Close()
	}
}

// peekedConn gives back the byte read to sort it.
type peekedConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *peekedConn) Read(b []byte) (int, error) {
	if c.pending && len(b) > 0 {
		c.pending = false
		b[0] = c.first
		if len(b) == 1 {
			return 1, nil
		}
		n, err := c.Conn.Read(b[1:])
		return n + 1, err
	}
	return c.Conn.Read(b)
}

// chanListener is a net.Listener fed by the sorter.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn, tlsBacklog), done: make(chan struct{})}
}

// offer queues a connection; false if the listener is closed or full.
func (l *chanListener) offer(c net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- c:
		return true
	default:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		// Connections accepted by the sorter but never by the server.
		for {
			select {
			case c := <-l.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// TLSListener returns the listener of TLS connections made to the gossip
// port (after Start). The agent serves its internal endpoints on it; it
// closes with the cluster.
func (c *Cluster) TLSListener() (net.Listener, error) {
	if c.transport == nil {
		return nil, errors.New("gossip: TLS listener before Start")
	}
	return c.transport.tls, nil
}
