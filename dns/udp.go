package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// udpServer answers UDP on one socket, in place of miekg's server, which
// spends a goroutine, an Unpack and a Pack and two system calls on every
// query. A few readers each read a batch of packets (recvmmsg), take each
// packet's token from its source's rate limit, answer the fast path's
// queries in turn and send those answers in a batch (sendmmsg); any other
// packet is queued for the server's bounded pool of workers, as forwarding
// may block for seconds. No packet gets a goroutine of its own.
//
// A socket bound to every address (0.0.0.0, ::) reads each packet's
// destination address (IP_PKTINFO) and answers from it, as miekg's server
// does: a reply from another address would be dropped by the client.
type udpServer struct {
	s        *Server
	conn     *net.UDPConn
	batch    batchConn
	local    net.Addr
	pktinfo  bool // answer from each packet's destination address
	readers  int
	stopping atomic.Bool
	handlers sync.WaitGroup // slow-path jobs of this socket, queued or running
	done     chan struct{}  // closed when readers and handlers are over
}

// batchConn is ipv4.PacketConn or ipv6.PacketConn.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// oobSize holds an IPv4 or an IPv6 packet-info control message.
var oobSize = max(len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface)),
	len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface)))

func (s *Server) newUDPServer(conn *net.UDPConn) (*udpServer, error) {
	// One reader per two CPUs: on two, a second reader cost more CPU per
	// query (contending for the socket, smaller batches) than it gained.
	u := &udpServer{s: s, conn: conn, local: conn.LocalAddr(), done: make(chan struct{}),
		readers: min(max(runtime.GOMAXPROCS(0)/2, 1), 4)}
	a, _ := conn.LocalAddr().(*net.UDPAddr)
	if a != nil && a.IP.To4() == nil {
		u.batch = ipv6.NewPacketConn(conn)
	} else {
		u.batch = ipv4.NewPacketConn(conn)
	}
	if a != nil && a.IP.IsUnspecified() {
		// Both families on a dual-stack socket; one is enough.
		err6 := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
		err4 := ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
		if err6 != nil && err4 != nil {
			return nil, fmt.Errorf("dns: %s: asking for packet destinations: %w", a, err4)
		}
		u.pktinfo = true
	}
	return u, nil
}

// serve reads until stop, waits for the socket's slow-path jobs and closes
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

// stop makes the readers return, and waits until the slow-path jobs are
// over or ctx ends; then the socket is closed either way.
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
	rcodes []int           // of out, counted once sent
	qtypes []uint16        // of out, for the Observer
	starts []time.Duration // of out: when the query was read (limiter clock)
	n      int             // answers in out
	key    []byte
}

func (u *udpServer) newBatch() *batch {
	b := &batch{in: make([]ipv4.Message, udpBatch), out: make([]ipv4.Message, udpBatch),
		rcodes: make([]int, udpBatch), qtypes: make([]uint16, udpBatch), starts: make([]time.Duration, udpBatch), key: make([]byte, 0, 256+5)}
	for i := range udpBatch {
		b.in[i].Buffers = [][]byte{make([]byte, udpReadSize)}
		b.out[i].Buffers = [][]byte{make([]byte, 0, upstreamUDPSize)}
		if u.pktinfo {
			b.in[i].OOB = make([]byte, oobSize)
		}
	}
	return b
}

func (u *udpServer) read() {
	b := u.newBatch()
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
		now := u.s.limit.now()
		for i := range n {
			u.handle(b, &b.in[i], now)
		}
		u.flush(b)
	}
}

// handle answers one packet into the batch, or hands it to the slow path.
func (u *udpServer) handle(b *batch, m *ipv4.Message, now time.Duration) {
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
	src := sourceOf(m.Addr)
	out := &b.out[b.n]
	switch s.limit.allow(src, now) {
	case dropped:
		s.stats.rateLimited.Add(1)
		return
	case slipped:
		s.stats.rateLimited.Add(1)
		resp, ok := slipReply(pkt, out.Buffers[0])
		if !ok {
			return
		}
		s.stats.slipped.Add(1)
		s.stats.truncated.Add(1)
		u.queue(b, m, resp, mdns.RcodeSuccess, 0, now)
		return
	}
	if resp, p, ok := s.fastReply(pkt, out.Buffers[0], &b.key, s.policy.recursion(src)); ok {
		s.stats.queries.Add(1)
		if p.tc {
			s.stats.truncated.Add(1)
		}
		u.queue(b, m, resp, p.rcode, p.qtype, now)
		return
	}
	u.slow(pkt, m)
}

// queue puts the answer resp to the packet m into the batch.
func (u *udpServer) queue(b *batch, m *ipv4.Message, resp []byte, rcode int, qtype uint16, read time.Duration) {
	out := &b.out[b.n]
	out.Buffers[0], out.Addr, out.OOB = resp, m.Addr, nil
	if u.pktinfo {
		out.OOB = replySource(m.OOB[:m.NN])
	}
	b.rcodes[b.n], b.qtypes[b.n], b.starts[b.n] = rcode, qtype, read
	b.n++
}

// slipReply writes into out the answer to a query over its rate limit
// that slips through: the header and question alone, with TC set, so the
// client asks again over TCP. It is never larger than the query: nothing
// to amplify. false for a packet the fast path would not parse.
func slipReply(pkt, out []byte) ([]byte, bool) {
	q, ok := parseQuery(pkt)
	if !ok {
		return out, false
	}
	end := headerLen + len(q.name) + 4
	out = append(out[:0], pkt[:end]...)
	out[2] = 0x80 | 0x02 | pkt[2]&byte(flagRD>>8) // QR, TC, and RD as asked
	out[3] = pkt[3] & flagCD
	clear(out[6:headerLen]) // one question, nothing else
	return out, true
}

// replySource is the control message that sends a reply from the address
// the query was sent to, read from the query's control message.
func replySource(oob []byte) []byte {
	var dst net.IP
	if cm := new(ipv6.ControlMessage); cm.Parse(oob) == nil && cm.Dst != nil {
		dst = cm.Dst
	} else if cm := new(ipv4.ControlMessage); cm.Parse(oob) == nil && cm.Dst != nil {
		dst = cm.Dst
	}
	switch {
	case dst == nil:
		return nil
	case dst.To4() == nil:
		return (&ipv6.ControlMessage{Src: dst}).Marshal()
	}
	return (&ipv4.ControlMessage{Src: dst}).Marshal()
}

// flush sends the batch's answers and counts them.
func (u *udpServer) flush(b *batch) {
	out, rcodes := b.out[:b.n], b.rcodes[:b.n]
	qtypes, starts := b.qtypes[:b.n], b.starts[:b.n]
	obs := u.s.obs
	for len(out) > 0 {
		n, err := u.batch.WriteBatch(out, 0)
		if err != nil || n == 0 {
			// The first answer did not go. ServeDNS would try a SERVFAIL
			// instead, which would not go either.
			u.s.log.Debug("writing a dns response failed", "error", err)
			if errors.Is(err, net.ErrClosed) {
				break
			}
			out, rcodes, qtypes, starts = out[1:], rcodes[1:], qtypes[1:], starts[1:]
			continue
		}
		for _, rc := range rcodes[:n] {
			u.s.stats.rcode(rc)
		}
		if obs != nil {
			sent := u.s.limit.now()
			for i, rc := range rcodes[:n] {
				obs.ObserveQuery(qtypes[i], rc, sent-starts[i])
			}
		}
		out, rcodes, qtypes, starts = out[n:], rcodes[n:], qtypes[n:], starts[n:]
	}
	for i := range b.out[:b.n] {
		b.out[i].Addr, b.out[i].OOB = nil, nil
	}
	b.n = 0
}

// slow queues a packet the fast path does not take for the server's
// workers, through miekg's checks as its server makes them. A full queue
// drops it: the client asks again, and the flood that filled the queue
// gets no more of the server.
func (u *udpServer) slow(pkt []byte, m *ipv4.Message) {
	be := binary.BigEndian
	h := mdns.Header{Id: be.Uint16(pkt), Bits: be.Uint16(pkt[2:]), Qdcount: be.Uint16(pkt[4:]),
		Ancount: be.Uint16(pkt[6:]), Nscount: be.Uint16(pkt[8:]), Arcount: be.Uint16(pkt[10:])}
	action := u.s.accept(h)
	if action == mdns.MsgIgnore {
		return // a response: answering it could loop
	}
	w := &udpWriter{u: u, addr: m.Addr}
	if u.pktinfo {
		w.oob = replySource(m.OOB[:m.NN])
	}
	pkt = bytes.Clone(pkt) // the batch's buffer is read into again
	u.handlers.Add(1)
	if !u.s.pool.submit(func() {
		defer u.handlers.Done()
		u.serveSlow(pkt, w, action)
	}) {
		u.handlers.Done()
		u.s.stats.dropped.Add(1)
	}
}

// serveSlow is what miekg's server does with a packet past its header.
func (u *udpServer) serveSlow(pkt []byte, w *udpWriter, action mdns.MsgAcceptAction) {
	defer func() {
		if v := recover(); v != nil { // ServeDNS recovers its own; this is the rest
			u.s.stats.panics.Add(1)
			u.s.log.Error("dns slow path panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
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
	oob  []byte // the source address to answer from, on a socket bound to every address
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

func (w *udpWriter) Write(b []byte) (int, error) {
	a, ok := w.addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("dns: not a UDP address: %v", w.addr)
	}
	n, _, err := w.u.conn.WriteMsgUDP(b, w.oob, a)
	return n, err
}
func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return nil }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}
