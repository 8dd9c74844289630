package packetcapture

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Capture records the frames of one interface from Start until End.
type Capture struct {
	fd    int
	mu    sync.Mutex
	buf   bytes.Buffer
	stop  atomic.Bool
	done  chan struct{}
	drops uint32
}

// Start captures on ifname of the network namespace at nsPath (a file such
// as /var/run/netns/NAME) until End. Its reader goroutine ends with End,
// which the caller must call.
func Start(nsPath, ifname string) (*Capture, error) {
	c := &Capture{fd: -1, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// The thread joins the namespace and is never handed back: it ends
		// with this goroutine.
		runtime.LockOSThread()
		errc <- c.open(nsPath, ifname)
	}()
	if err := <-errc; err != nil {
		if c.fd >= 0 { // opened, then a later step failed
			unix.Close(c.fd)
		}
		return nil, fmt.Errorf("capture on %s in %s: %w", ifname, nsPath, err)
	}
	go c.read()
	return c, nil
}

func (c *Capture) open(nsPath, ifname string) error {
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
	// Room for a whole transfer: dropped frames would make a check prove
	// nothing (End reports them).
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	// A read times out now and then, so that the reader sees End.
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func (c *Capture) read() {
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

// End stops the capture (once; later calls return the same) and returns
// every byte seen and how many frames the kernel dropped for want of room.
func (c *Capture) End() (seen []byte, dropped uint32) {
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
