package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	// udpBatch is how many packets one system call reads, and how many
	// answers one sends.
	udpBatch = 32
	// udpReadSize is the largest query read whole, as miekg's server reads.
	udpReadSize = mdns.DefaultMsgSize
)

// udpServer answers UDP on one socket bound to a specific address, in
// place of miekg's server, which spends a goroutine, an Unpack and a Pack
// and two system calls on every query. A few readers each read a batch of
// packets (recvmmsg), answer the fast path's queries in turn and send
// those answers in a batch (sendmmsg); any other packet gets a goroutine
// of its own, as forwarding may block for seconds.
//
// A socket bound to every address (0.0.0.0, ::) is left to miekg's server,
// which answers from the address each query was sent to with a control
// message; batches here send from the socket's own address.
type udpServer struct {
	s        *Server
	conn     *net.UDPConn
	batch    batchConn
	local    net.Addr
	readers  int
	stopping atomic.Bool
	handlers sync.WaitGroup // slow-path goroutines
	done     chan struct{}  // closed when readers and handlers are over
}

// batchConn is ipv4.PacketConn or ipv6.PacketConn.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func (s *Server) newUDPServer(conn *net.UDPConn) *udpServer {
	// One reader per two CPUs: on two, a second reader cost more CPU per
	// query (contending for the socket, smaller batches) than it gained.
	u := &udpServer{s: s, conn: conn, local: conn.LocalAddr(), done: make(chan struct{}),
		readers: min(max(runtime.GOMAXPROCS(0)/2, 1), 4)}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		u.batch = ipv6.NewPacketConn(conn)
	} else {
		u.batch = ipv4.NewPacketConn(conn)
	}
	return u
}

// serve reads until stop, waits for the slow-path goroutines and closes
// the socket. Several readers take turns at the socket, so one answers
// while another reads.
func (u *udpServer) serve() {
	defer close(u.done)
	var readers sync.WaitGroup
	for range u.readers {
		readers.Go(u.read)
	}
	readers.Wait()
	u.handlers.Wait()
	u.conn.Close()
}

// stop makes the readers return, and waits until the slow-path goroutines
// are over or ctx ends; then the socket is closed either way.
func (u *udpServer) stop(ctx context.Context) error {
	u.stopping.Store(true)
	_ = u.conn.SetReadDeadline(time.Unix(1, 0)) // unblocks the readers
	defer u.conn.Close()
	select {
	case <-u.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch is one reader's buffers.
type batch struct {
	in     []ipv4.Message
	out    []ipv4.Message
	rcodes []int // of out, counted once sent
	n      int   // answers in out
	key    []byte
}

func newBatch() *batch {
	b := &batch{in: make([]ipv4.Message, udpBatch), out: make([]ipv4.Message, udpBatch),
		rcodes: make([]int, udpBatch), key: make([]byte, 0, 256+5)}
	for i := range udpBatch {
		b.in[i].Buffers = [][]byte{make([]byte, udpReadSize)}
		b.out[i].Buffers = [][]byte{make([]byte, 0, upstreamUDPSize)}
	}
	return b
}

func (u *udpServer) read() {
	b := newBatch()
	for !u.stopping.Load() {
		n, err := u.batch.ReadBatch(b.in, 0)
		if err != nil {
			if u.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
				continue // as miekg's server does
			}
			u.s.log.Error("dns listener failed", "addr", u.local.String(), "error", err)
			return
		}
		for i := range n {
			u.handle(b, &b.in[i])
		}
		u.flush(b)
	}
}

// handle answers one packet into the batch, or hands it to the slow path.
func (u *udpServer) handle(b *batch, m *ipv4.Message) {
	s := u.s
	defer func() {
		// No packet may stop the loop; the fast path is fuzzed, but a
		// panic here would take every listener of the agent down.
		if v := recover(); v != nil {
			s.stats.panics.Add(1)
			s.log.Error("dns fast path panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	pkt := m.Buffers[0][:m.N]
	if len(pkt) < headerLen {
		s.invalid(pkt, mdns.ErrShortRead)
		return
	}
	out := &b.out[b.n]
	if resp, p, ok := s.fastReply(pkt, out.Buffers[0], &b.key); ok {
		s.stats.queries.Add(1)
		if p.tc {
			s.stats.truncated.Add(1)
		}
		out.Buffers[0], out.Addr = resp, m.Addr
		b.rcodes[b.n] = p.rcode
		b.n++
		return
	}
	u.slow(pkt, m.Addr)
}

// flush sends the batch's answers and counts them.
func (u *udpServer) flush(b *batch) {
	out, rcodes := b.out[:b.n], b.rcodes[:b.n]
	for len(out) > 0 {
		n, err := u.batch.WriteBatch(out, 0)
		if err != nil || n == 0 {
			// The first answer did not go. ServeDNS would try a SERVFAIL
			// instead, which would not go either.
			u.s.log.Debug("writing a dns response failed", "error", err)
			if errors.Is(err, net.ErrClosed) {
				break
			}
			out, rcodes = out[1:], rcodes[1:]
			continue
		}
		for _, rc := range rcodes[:n] {
			u.s.stats.rcode(rc)
		}
		out, rcodes = out[n:], rcodes[n:]
	}
	for i := range b.out[:b.n] {
		b.out[i].Addr = nil
	}
	b.n = 0
}

// slow hands a packet the fast path does not take to ServeDNS in a
// goroutine of its own, through miekg's checks as its server makes them.
func (u *udpServer) slow(pkt []byte, addr net.Addr) {
	be := binary.BigEndian
	h := mdns.Header{Id: be.Uint16(pkt), Bits: be.Uint16(pkt[2:]), Qdcount: be.Uint16(pkt[4:]),
		Ancount: be.Uint16(pkt[6:]), Nscount: be.Uint16(pkt[8:]), Arcount: be.Uint16(pkt[10:])}
	action := u.s.accept(h)
	if action == mdns.MsgIgnore {
		return // a response: answering it could loop
	}
	pkt = bytes.Clone(pkt) // the batch's buffer is read into again
	u.handlers.Go(func() { u.serveSlow(pkt, addr, action) })
}

// serveSlow is what miekg's server does with a packet past its header.
func (u *udpServer) serveSlow(pkt []byte, addr net.Addr, action mdns.MsgAcceptAction) {
	w := &udpWriter{u: u, addr: addr}
	req := new(mdns.Msg)
	if action == mdns.MsgAccept {
		err := req.Unpack(pkt)
		if err == nil {
			u.s.ServeDNS(w, req)
			return
		}
		u.s.invalid(pkt, err)
		action = mdns.MsgReject // FORMERR, with what did unpack
	} else {
		_ = req.Unpack(pkt[:headerLen]) // the header alone
	}
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == mdns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = mdns.RcodeNotImplemented
	}
	req.Ns, req.Answer, req.Extra = nil, nil, nil
	_ = w.WriteMsg(req)
}

// udpWriter writes one slow-path response to the socket.
type udpWriter struct {
	u    *udpServer
	addr net.Addr
}

var _ mdns.ResponseWriter = (*udpWriter)(nil)

func (w *udpWriter) LocalAddr() net.Addr  { return w.u.local }
func (w *udpWriter) RemoteAddr() net.Addr { return w.addr }

func (w *udpWriter) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *udpWriter) Write(b []byte) (int, error) { return w.u.conn.WriteTo(b, w.addr) }
func (w *udpWriter) Close() error                { return nil }
func (w *udpWriter) TsigStatus() error           { return nil }
func (w *udpWriter) TsigTimersOnly(bool)         {}
func (w *udpWriter) Hijack()                     {}
