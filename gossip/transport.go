package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
)

const (
	// maxPacket is the largest UDP datagram; the receive buffer holds one.
	maxPacket = 65536
	// udpReceiveBuffer is the socket buffer asked of the kernel (halved
	// until granted), as memberlist's own transport does.
	udpReceiveBuffer = 2 << 20
	// acceptBackoffMax bounds the pause after a failed accept.
	acceptBackoffMax = time.Second
)

// transport carries memberlist over one TCP and one UDP socket on the
// gossip port. It does what memberlist's NetTransport does, with four
// changes: a received packet takes a slice of its own size, copied out of
// one receive buffer (NetTransport allocates 64 KB for every packet, most
// of an idle agent's garbage); dials end when the cluster stops
// (memberlist's Join cannot be cancelled otherwise, and a dropped peer
// would hold Shutdown for the TCP timeout); TLS connections to the port go
// to the agent's own endpoints (streams.go); and an optional partition
// hook drops traffic to and from chosen peers (tests).
type transport struct {
	ctx     context.Context
	host    string
	port    int
	tcp     *net.TCPListener
	udp     *net.UDPConn
	logger  *log.Logger
	blocked func(addr string) bool
	stats   *counters

	packets  chan *memberlist.Packet
	accepted chan net.Conn // from the accept loop to the sorter
	streams  chan net.Conn // sorted: memberlist's own
	tls      *chanListener

	once sync.Once
	quit chan struct{}
	wg   sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

func newTransport(ctx context.Context, bind string, blocked func(string) bool, stats *counters, logger *log.Logger) (*transport, error) {
	host, port, err := splitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("gossip: bind address: %w", err)
	}
	ip := net.ParseIP(host)
	if host != "" && ip == nil {
		// A name would have to resolve to one address; memberlist's own
		// transport took it for "every interface", silently.
		return nil, fmt.Errorf("gossip: bind address %q: the host must be an IP address (0.0.0.0 for every interface, or one of this host's)", bind)
	}
	// With port 0 the TCP listener picks a port that UDP may find taken;
	// try a few times, as memberlist does.
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var (
		tcp *net.TCPListener
		udp *net.UDPConn
	)
	for range attempts {
		tcp, udp, err = listen(ip, port)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gossip: listen on %s: %w", bind, err)
	}
	t := &transport{
		ctx: ctx, host: host, port: tcp.Addr().(*net.TCPAddr).Port, tcp: tcp, udp: udp, logger: logger,
		blocked: blocked, stats: stats,
		packets: make(chan *memberlist.Packet), accepted: make(chan net.Conn), streams: make(chan net.Conn),
		quit: make(chan struct{}),
	}
	t.tls = newChanListener(&net.TCPAddr{IP: ip, Port: t.port})
	t.wg.Go(t.acceptStreams)
	t.wg.Go(t.readPackets)
	t.wg.Go(t.sortStreams)
	return t, nil
}

// listen opens the TCP and UDP sockets on one port.
func listen(ip net.IP, port int) (*net.TCPListener, *net.UDPConn, error) {
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, nil, fmt.Errorf("TCP: %w", err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: tcp.Addr().(*net.TCPAddr).Port})
	if err != nil {
		tcp.Close()
		return nil, nil, fmt.Errorf("UDP: %w", err)
	}
	for size := udpReceiveBuffer; size > 0; size /= 2 {
		if err = udp.SetReadBuffer(size); err == nil {
			break
		}
	}
	if err != nil {
		tcp.Close()
		udp.Close()
		return nil, nil, fmt.Errorf("UDP receive buffer: %w", err)
	}
	return tcp, udp, nil
}

// readPackets hands memberlist each received packet, except those of
// blocked peers. It reads into one buffer and copies out what arrived, so
// a packet costs its own size. It ends when the socket closes.
func (t *transport) readPackets() {
	buf := make([]byte, maxPacket)
	for {
		n, from, err := t.udp.ReadFrom(buf)
		at := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) { // Shutdown
				return
			}
			t.logger.Printf("[ERR] memberlist: Error reading UDP packet: %v", err)
			continue
		}
		if n < 1 || (t.blocked != nil && t.blocked(from.String())) {
			continue
		}
		p := &memberlist.Packet{Buf: bytes.Clone(buf[:n]), From: from, Timestamp: at}
		select {
		case t.packets <- p:
		case <-t.quit:
			return
		}
	}
}

// acceptStreams hands the sorter each accepted connection. A failed
// accept is retried after a pause that doubles up to a second, as
// memberlist's own loop does. It ends when the listener closes.
func (t *transport) acceptStreams() {
	var pause time.Duration
	for {
		conn, err := t.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) { // Shutdown
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), acceptBackoffMax)
			t.logger.Printf("[ERR] memberlist: Error accepting TCP connection: %v", err)
			select {
			case <-time.After(pause):
			case <-t.quit:
				return
			}
			continue
		}
		pause = 0
		select {
		case t.accepted <- conn:
		case <-t.quit:
			conn.Close()
			return
		}
	}
}

// GetAutoBindPort is the port bound (the one asked for, or the kernel's
// choice for 0).
func (t *transport) GetAutoBindPort() int { return t.port }

// FinalAdvertiseAddr is the address memberlist tells peers: the one given,
// else the bound IP, else (bound to every interface) a private address of
// the host, as memberlist's own transport chooses.
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		addr := net.ParseIP(ip)
		if addr == nil {
			return nil, 0, fmt.Errorf("failed to parse advertise address %q", ip)
		}
		if v4 := addr.To4(); v4 != nil {
			addr = v4
		}
		return addr, port, nil
	}
	bound := t.tcp.Addr().(*net.TCPAddr).IP
	if !bound.IsUnspecified() {
		return bound, t.port, nil
	}
	private, err := sockaddr.GetPrivateIP()
	if err != nil {
		return nil, 0, fmt.Errorf("failed to get interface addresses: %w", err)
	}
	addr := net.ParseIP(private)
	if addr == nil {
		return nil, 0, errors.New("no private IP address found, and explicit IP not provided")
	}
	return addr, t.port, nil
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh hands memberlist the connections that are its own.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.blocked != nil && t.blocked(a.Addr) {
		return time.Now(), nil // lost on the way, as UDP may be
	}
	to, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		// Not IP:port (memberlist passes resolved addresses; kept for a
		// name given to Join).
		ua, rerr := net.ResolveUDPAddr("udp", a.Addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		to = ua.AddrPort()
	}
	t.stats.packetBytesSent.Add(int64(len(b)))
	_, err = t.udp.WriteToUDPAddrPort(b, to)
	return time.Now(), err
}

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.blocked != nil && t.blocked(a.Addr) {
		return nil, fmt.Errorf("dial %s: %w", a.Addr, errPartitioned)
	}
	d := net.Dialer{Timeout: timeout}
	return d.DialContext(t.ctx, "tcp", a.Addr)
}

// errPartitioned is the dial error of a blocked peer.
var errPartitioned = errors.New("gossip: peer is partitioned away")

// Shutdown closes the sockets and waits for the loops (memberlist calls
// it). quit closes first, so a loop blocked handing something over ends.
func (t *transport) Shutdown() error {
	t.once.Do(func() {
		close(t.quit)
		t.tcp.Close()
		t.udp.Close()
		t.tls.Close()
		t.wg.Wait()
	})
	return nil
}
