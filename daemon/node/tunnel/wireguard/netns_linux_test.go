//go:build linux

package wireguard

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/internal/packetcapture"
	"github.com/shoal-dev/shoal/internal/poll"

	"golang.org/x/sys/unix"
)

// needRoot skips unless SHOAL_TEST_DOCKER=1 (the switch of every test
// that needs root and network namespaces); then root, ip and the TUN
// device must be there.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Getenv("SHOAL_TEST_DOCKER") != "1" {
		t.Skip("needs root, network namespaces and /dev/net/tun; set SHOAL_TEST_DOCKER=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("SHOAL_TEST_DOCKER=1 but not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip not found (Debian package iproute2)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Fatalf("no TUN device: %v", err)
	}
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns makes a network namespace shoal-wg-<random><suffix>, deleted
// when the test ends.
func newNetns(t testing.TB, suffix string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "shoal-wg-" + hex.EncodeToString(b) + suffix
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func nsPath(ns string) string { return "/var/run/netns/" + ns }

// inNetns runs fn on a thread in the namespace; the thread is thrown away
// afterwards. Sockets fn opens stay in the namespace.
func inNetns(t testing.TB, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(nsPath(ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// host is one side of the test network: a namespace with an underlay
// address on veth0, and a "pod" subnet behind its tunnel.
type host struct {
	name     string // node name
	ns       string
	underlay netip.Addr
	pods     netip.Prefix // the node's pod subnet
	gateway  netip.Addr   // its first address, the tunnel's address
	tun      *Tunnel
	signed   string
	logs     *logRecorder
	id       *identity.Node // its node certificate; start issues one if nil
	dataDir  string         // where its key is kept
	// leaveRoutes starts the tunnel with Config.LeaveRoutes.
	leaveRoutes bool
}

// logRecorder counts the tunnel's log records by message.
type logRecorder struct {
	mu    sync.Mutex
	count map[string]int
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[rec.Message]++
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) n(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[msg]
}

// twoHosts makes namespaces a and b joined by a veth pair (the underlay,
// 192.168.77.0/24), each with a Tunnel and a pod subnet (10.250.1.0/24,
// 10.250.2.0/24) that no route reaches except through the tunnel.
func twoHosts(t testing.TB, c *cluster) (a, b *host) {
	t.Helper()
	a = &host{name: "a", ns: newNetns(t, "a"), underlay: netip.MustParseAddr("192.168.77.1"),
		pods: netip.MustParsePrefix("10.250.1.0/24"), gateway: netip.MustParseAddr("10.250.1.1")}
	b = &host{name: "b", ns: newNetns(t, "b"), underlay: netip.MustParseAddr("192.168.77.2"),
		pods: netip.MustParsePrefix("10.250.2.0/24"), gateway: netip.MustParseAddr("10.250.2.1")}
	sh(t, "ip", "-n", a.ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", b.ns)
	for _, h := range []*host{a, b} {
		sh(t, "ip", "-n", h.ns, "addr", "add", h.underlay.String()+"/24", "dev", "veth0")
		sh(t, "ip", "-n", h.ns, "link", "set", "veth0", "up")
		h.start(t, c)
	}
	return a, b
}

// start makes the host's tunnel with a key bound to a certificate of c.
func (h *host) start(t testing.TB, c *cluster) {
	t.Helper()
	h.logs = &logRecorder{count: map[string]int{}}
	if h.id == nil {
		h.id = c.node(t, h.name, time.Now(), 0)
	}
	if h.dataDir == "" {
		h.dataDir = t.TempDir()
	}
	key, _, err := KeyForCertificate(h.dataDir, h.id.Leaf())
	if err != nil {
		t.Fatal(err)
	}
	h.tun, err = New(context.Background(), Config{
		Address:     netip.PrefixFrom(h.gateway, 32),
		PrivateKey:  key,
		Trust:       func() *x509.CertPool { return c.pool },
		NetNS:       nsPath(h.ns),
		Log:         slog.New(h.logs),
		LeaveRoutes: h.leaveRoutes,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.tun.Close() })
	if h.signed, err = SignKey(h.id, h.tun.PublicKey()); err != nil {
		t.Fatal(err)
	}
}

func (h *host) peer() Peer {
	return Peer{Name: h.name, SignedKey: h.signed, Endpoint: netip.AddrPortFrom(h.underlay, DefaultPort),
		AllowedIPs: []netip.Prefix{h.pods}}
}

// connect gives a and b each other as peers and waits for their first
// handshake: two nodes that start one at the same moment (here, the test's
// first packet and the other side's greeting) lose both and retry after
// WireGuard's rekey timeout, 5 s.
func connect(t testing.TB, a, b *host) {
	t.Helper()
	setPeers(t, a, b.peer())
	setPeers(t, b, a.peer())
	poll.Cond(t, 15*time.Second, "a handshake between a and b", func() bool {
		ha, _ := a.tun.Handshakes()
		hb, _ := b.tun.Handshakes()
		return !ha[b.name].IsZero() && !hb[a.name].IsZero()
	})
}

func setPeers(t testing.TB, h *host, peers ...Peer) map[string]error {
	t.Helper()
	refused, err := h.tun.SetPeers(peers)
	if err != nil {
		t.Fatal(err)
	}
	return refused
}

// listen opens a TCP listener in the namespace.
func listen(t testing.TB, ns string, addr netip.Addr) net.Listener {
	t.Helper()
	var l net.Listener
	inNetns(t, ns, func() error {
		var err error
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	t.Cleanup(func() { l.Close() })
	return l
}

// dial connects from the namespace.
func dial(t testing.TB, ns, addr string, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var derr error
	inNetns(t, ns, func() error {
		c, derr = net.DialTimeout("tcp", addr, timeout)
		return nil
	})
	return c, derr
}

// transfer sends payload from ns to a listener and returns what the
// listener's side received and from where.
func transfer(t testing.TB, ns string, l net.Listener, payload []byte) (got []byte, from string) {
	t.Helper()
	type result struct {
		data []byte
		from string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		data, err := io.ReadAll(c)
		done <- result{data, c.RemoteAddr().String(), err}
	}()
	c, err := dial(t, ns, l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", l.Addr(), ns, err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(payload); err != nil {
		t.Fatalf("send to %s: %v", l.Addr(), err)
	}
	c.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("receive at %s: %v", l.Addr(), r.err)
	}
	return r.data, r.from
}

// startCapture captures on ifname of the namespace ns until End (or the
// test's end).
func startCapture(t testing.TB, ns, ifname string) *packetcapture.Capture {
	t.Helper()
	c, err := packetcapture.Start(nsPath(ns), ifname)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.End() })
	return c
}
