//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// packetCapture records every frame on one interface of a network
// namespace (a raw AF_PACKET socket opened inside it).
type packetCapture struct {
	fd    int
	mu    sync.Mutex
	buf   bytes.Buffer
	stop  atomic.Bool
	done  chan struct{}
	drops uint32
}

// startPacketCapture captures on ifname of the namespace at nsPath until
// end (or the test's end).
func startPacketCapture(t *testing.T, nsPath, ifname string) *packetCapture {
	t.Helper()
	c := &packetCapture{done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// The thread joins the namespace and is never handed back: it ends
		// with this goroutine.
		runtime.LockOSThread()
		errc <- c.open(nsPath, ifname)
	}()
	if err := <-errc; err != nil {
		t.Fatalf("capture on %s in %s: %v", ifname, nsPath, err)
	}
	go c.read()
	t.Cleanup(func() { c.end() })
	return c
}

func (c *packetCapture) open(nsPath, ifname string) error {
	f, err := os.Open(nsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	proto := uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8 // network byte order
	if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto)); err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	// Room for a whole transfer: dropped frames would make the check prove
	// nothing (end reports them).
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func (c *packetCapture) read() {
	defer close(c.done)
	frame := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, frame, 0)
		if err != nil {
			if c.stop.Load() {
				return // a timeout once stopped: the queue is drained
			}
			continue
		}
		c.mu.Lock()
		c.buf.Write(frame[:n])
		c.mu.Unlock()
	}
}

// end stops the capture; it returns every byte seen and how many frames
// the kernel dropped.
func (c *packetCapture) end() (seen []byte, dropped uint32) {
	if !c.stop.Swap(true) {
		<-c.done
		if st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			c.drops = st.Drops
		} else {
			c.drops = 1 << 31
		}
		unix.Close(c.fd)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes(), c.drops
}
