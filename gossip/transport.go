package gossip

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// transport is memberlist's NetTransport with three changes: dials end
// when the cluster stops (memberlist's Join cannot be cancelled otherwise,
// and a dropped peer would hold Shutdown for the TCP timeout), TLS
// connections to the port go to the agent's own endpoints (streams.go),
// and an optional partition hook drops traffic to and from chosen peers
// (tests).
type transport struct {
	*memberlist.NetTransport
	ctx     context.Context
	host    string
	port    int
	blocked func(addr string) bool
	stats   *counters
	packets chan *memberlist.Packet
	streams chan net.Conn
	tls     *chanListener

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
	// With port 0 the TCP listener picks a port that UDP may find taken;
	// try a few times, as memberlist does.
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var nt *memberlist.NetTransport
	for range attempts {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: logger})
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gossip: listen on %s: %w", bind, err)
	}
	t := &transport{NetTransport: nt, ctx: ctx, host: host, port: nt.GetAutoBindPort(), blocked: blocked, stats: stats, quit: make(chan struct{}),
		streams: make(chan net.Conn)}
	t.tls = newChanListener(&net.TCPAddr{IP: net.ParseIP(host), Port: t.port})
	t.wg.Go(t.sortStreams)
	if blocked != nil {
		t.packets = make(chan *memberlist.Packet)
		t.wg.Go(t.filterPackets)
	}
	return t, nil
}

// filterPackets forwards incoming packets except those from blocked peers.
func (t *transport) filterPackets() {
	in := t.NetTransport.PacketCh()
	for {
		select {
		case <-t.quit:
			return
		case p := <-in:
			if t.blocked(p.From.String()) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.quit:
				return
			}
		}
	}
}

func (t *transport) PacketCh() <-chan *memberlist.Packet {
	if t.packets != nil {
		return t.packets
	}
	return t.NetTransport.PacketCh()
}

// StreamCh hands memberlist the connections that are its own.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.blocked != nil && t.blocked(a.Addr) {
		return time.Now(), nil // lost on the way, as UDP may be
	}
	t.stats.packetBytesSent.Add(int64(len(b)))
	return t.NetTransport.WriteToAddress(b, a)
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

// Shutdown stops the listeners, then the filter (memberlist calls it).
// The filter keeps reading meanwhile: NetTransport's receive loop may be
// blocked handing over a packet, and its Shutdown waits for that loop.
func (t *transport) Shutdown() error {
	var err error
	t.once.Do(func() {
		err = t.NetTransport.Shutdown()
		close(t.quit)
		t.tls.Close()
		t.wg.Wait()
	})
	return err
}
