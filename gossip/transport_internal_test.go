package gossip

import (
	"context"
	"io"
	"log"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func startTransport(t testing.TB, blocked func(string) bool) *transport {
	t.Helper()
	tr, err := newTransport(context.Background(), "127.0.0.1:0", blocked, &counters{}, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown() })
	return tr
}

func sendUDP(t testing.TB, to int, payload []byte) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
}

func receive(t testing.TB, ch <-chan *memberlist.Packet) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5 s")
		return nil
	}
}

// A received packet holds a buffer of about its own size, not the 64 KB
// one it was read into (memberlist's transport keeps 64 KB per packet).
func TestTransportPacketTakesItsOwnSize(t *testing.T) {
	tr := startTransport(t, nil)
	sendUDP(t, tr.port, []byte(strings.Repeat("a", 100)))
	sendUDP(t, tr.port, []byte(strings.Repeat("b", 1400)))
	p1, p2 := receive(t, tr.PacketCh()), receive(t, tr.PacketCh())
	if string(p1.Buf) != strings.Repeat("a", 100) || string(p2.Buf) != strings.Repeat("b", 1400) {
		t.Fatalf("packets = %q, %q", p1.Buf, p2.Buf)
	}
	if cap(p1.Buf) > 256 || cap(p2.Buf) > 2048 {
		t.Fatalf("capacities %d and %d: each packet should hold about its own size", cap(p1.Buf), cap(p2.Buf))
	}
	if p1.From.String() == "" || p1.Timestamp.IsZero() {
		t.Fatalf("packet lacks its sender or time: %+v", p1)
	}
}

// The partition hook drops packets from a blocked sender and sends none
// to a blocked address.
func TestTransportDropsBlockedPeers(t *testing.T) {
	var blockAll atomic.Bool
	blockAll.Store(true)
	tr := startTransport(t, func(string) bool { return blockAll.Load() })
	sendUDP(t, tr.port, []byte("dropped"))
	select {
	case p := <-tr.PacketCh():
		t.Fatalf("a blocked sender's packet came through: %q", p.Buf)
	case <-time.After(200 * time.Millisecond):
	}
	blockAll.Store(false)
	sendUDP(t, tr.port, []byte("kept"))
	if p := receive(t, tr.PacketCh()); string(p.Buf) != "kept" {
		t.Fatalf("packet = %q, want kept", p.Buf)
	}

	peer := startTransport(t, nil)
	blockAll.Store(true)
	if _, err := tr.WriteTo([]byte("lost"), peer.udp.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	blockAll.Store(false)
	if _, err := tr.WriteTo([]byte("sent"), peer.udp.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	if p := receive(t, peer.PacketCh()); string(p.Buf) != "sent" {
		t.Fatalf("first packet to arrive = %q, want sent (the blocked one is lost)", p.Buf)
	}
}

// Shutdown returns while a packet waits for memberlist to take it, and the
// sockets are closed after.
func TestTransportShutdownWithAPacketWaiting(t *testing.T) {
	tr, err := newTransport(context.Background(), "127.0.0.1:0", nil, &counters{}, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	sendUDP(t, tr.port, []byte("never taken"))
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { tr.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown blocked with a packet waiting")
	}
	if _, err := net.Dial("tcp", tr.tcp.Addr().String()); err == nil {
		t.Fatal("the TCP port still accepts after Shutdown")
	}
}

// A TCP connection that is not TLS reaches memberlist's stream channel
// with its first byte intact.
func TestTransportStreamsReachMemberlist(t *testing.T) {
	tr := startTransport(t, nil)
	c, err := tr.DialTimeout(tr.tcp.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("push")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-tr.StreamCh():
		defer s.Close()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "push" {
			t.Fatalf("read %q, %v", buf, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stream within 5 s")
	}
}

// A host name as the bind address is refused, naming the fix, where
// memberlist's transport listened on every interface instead.
func TestTransportRefusesANameToBindTo(t *testing.T) {
	_, err := newTransport(context.Background(), "localhost:0", nil, &counters{}, log.New(io.Discard, "", 0))
	if err == nil || !strings.Contains(err.Error(), "must be an IP address (0.0.0.0 for every interface") {
		t.Fatalf("err = %v, want the bind address refused with the fix", err)
	}
}

func TestTransportAdvertisesTheBoundAddress(t *testing.T) {
	tr := startTransport(t, nil)
	ip, port, err := tr.FinalAdvertiseAddr("", tr.port)
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != tr.port {
		t.Fatalf("advertise = %v:%d, %v", ip, port, err)
	}
	ip, port, err = tr.FinalAdvertiseAddr("10.1.2.3", 9)
	if err != nil || ip.String() != "10.1.2.3" || port != 9 {
		t.Fatalf("given advertise = %v:%d, %v", ip, port, err)
	}
	if _, _, err := tr.FinalAdvertiseAddr("not-an-ip", 9); err == nil {
		t.Fatal("a bad advertise address was accepted")
	}
}

// BenchmarkPacketReceive measures what receiving one gossip-sized packet
// (a 1,400-byte datagram) allocates, with this transport and with
// memberlist's NetTransport side by side.
func BenchmarkPacketReceive(b *testing.B) {
	payload := make([]byte, 1400)
	run := func(b *testing.B, port int, packets <-chan *memberlist.Packet) {
		c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(payload); err != nil {
				b.Fatal(err)
			}
			<-packets
		}
	}
	b.Run("shoal", func(b *testing.B) {
		tr := startTransport(b, nil)
		run(b, tr.port, tr.PacketCh())
	})
	b.Run("memberlist", func(b *testing.B) {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0)})
		if err != nil {
			b.Fatal(err)
		}
		defer nt.Shutdown()
		run(b, nt.GetAutoBindPort(), nt.PacketCh())
	})
}
