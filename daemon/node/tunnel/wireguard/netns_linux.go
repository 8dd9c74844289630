package wireguard

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"
)

// namespace is where the device lives: the caller's network namespace, or
// the one at a path (/run/netns/NAME, /proc/PID/ns/net).
type namespace struct {
	path   string
	handle netns.NsHandle // open only when path is set
}

func openNamespace(path string) (*namespace, error) {
	if path == "" {
		return &namespace{handle: netns.None()}, nil
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	return &namespace{path: path, handle: h}, nil
}

// do runs fn in the namespace. Sockets and devices fn makes belong to the
// namespace and can be used from any thread afterwards. With a path, fn
// runs on a thread of its own that is thrown away afterwards (it stays
// locked), so no other goroutine ever runs in the wrong namespace.
func (n *namespace) do(fn func() error) error {
	if n.path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(n.handle); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", n.path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// netlink returns a netlink handle that works in the namespace.
func (n *namespace) netlink() (*netlink.Handle, error) {
	if n.path == "" {
		return netlink.NewHandle()
	}
	return netlink.NewHandleAt(n.handle)
}

func (n *namespace) close() {
	if n.path != "" {
		n.handle.Close()
	}
}

// nsBind opens wireguard-go's UDP sockets in the namespace: the device
// reopens them from its own goroutines (when the link goes up, when the
// port changes), which may run in any namespace. It always opens the
// configured port: after a failed attempt wireguard-go asks for port 0,
// which would leave the device on a random port its peers do not know. It
// also remembers whether the sockets are open, which the device does not
// tell.
type nsBind struct {
	conn.Bind
	ns   *namespace
	port uint16

	mu      sync.Mutex
	open    bool
	openErr error // of the last Open
}

func (b *nsBind) Open(uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = b.ns.do(func() error {
		var err error
		fns, actual, err = b.Bind.Open(b.port)
		return err
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open, b.openErr = err == nil, err
	return fns, actual, err
}

func (b *nsBind) Close() error {
	err := b.Bind.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open = false
	return err
}

// state reports whether the sockets are open, and else the last error.
func (b *nsBind) state() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open, b.openErr
}

// nsTUN reads the device's MTU through netlink in the namespace, where
// wireguard-go would ask by name in whatever namespace its goroutine is in.
type nsTUN struct {
	tun.Device
	index int
	mu    sync.Mutex // guards nl and closed
	nl    *netlink.Handle
	// closed: nl is closed; wireguard-go's event goroutine may still ask
	// for the MTU while it winds down.
	closed bool
}

func (t *nsTUN) MTU() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, errors.New("tunnel closed")
	}
	l, err := t.nl.LinkByIndex(t.index)
	if err != nil {
		return 0, err
	}
	return l.Attrs().MTU, nil
}

func (t *nsTUN) closeNetlink() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		t.nl.Close()
	}
}
