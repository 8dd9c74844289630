package wireguard

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// Tunnel is a WireGuard device and its routes.
type Tunnel struct {
	cfg  Config
	log  *slog.Logger
	pub  Key
	ns   *namespace
	nl   *netlink.Handle
	tun  *nsTUN
	bind *nsBind
	dev  *device.Device
	link int // interface index

	mu      sync.Mutex
	closed  bool
	stop    func() bool           // stops the context watch
	peers   map[Key]configured    // what the device holds
	dirty   bool                  // the device may hold something else: replace all
	refused map[string]string     // node -> why, logged once
	routes  map[netip.Prefix]bool // routes this Tunnel keeps
	greet   map[Key]*time.Timer   // peers to greet (turn the keepalive on) later
}

// greetDelay is how long the node with the higher public key waits before
// greeting a new peer. Two nodes that learn of each other at once would
// otherwise both start a handshake, and wireguard-go can then lose both and
// wait its rekey timeout (5 s) before it tries again; by the time the
// second node greets, the first one's handshake is done and the greeting is
// a mere keepalive.
const greetDelay = time.Second

// New makes the WireGuard device, sets it up and starts wireguard-go
// behind it; it is closed when ctx ends or by Close. A device left with
// the same name (a kernel one from an earlier run) is replaced.
func New(ctx context.Context, cfg Config) (*Tunnel, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	pub, err := cfg.PrivateKey.PublicKey()
	if err != nil {
		return nil, err
	}
	t := &Tunnel{cfg: cfg, pub: pub, log: cfg.Log.With("device", cfg.Name),
		peers: map[Key]configured{}, refused: map[string]string{}, routes: map[netip.Prefix]bool{},
		greet: map[Key]*time.Timer{}}
	if t.ns, err = openNamespace(cfg.NetNS); err != nil {
		return nil, fmt.Errorf("wireguard: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			t.teardown()
		}
	}()
	if t.nl, err = t.ns.netlink(); err != nil {
		return nil, fmt.Errorf("wireguard: netlink: %w", err)
	}
	if old, err := t.nl.LinkByName(cfg.Name); err == nil {
		t.log.Warn("replacing a device left behind", "type", old.Type())
		if err := t.nl.LinkDel(old); err != nil {
			return nil, fmt.Errorf("wireguard: remove the old %s: %w", cfg.Name, err)
		}
	}
	var td tun.Device
	if err := t.ns.do(func() error {
		var err error
		td, err = tun.CreateTUN(cfg.Name, cfg.MTU)
		return err
	}); err != nil {
		return nil, fmt.Errorf("wireguard: create TUN device %s (needs /dev/net/tun and CAP_NET_ADMIN): %w", cfg.Name, err)
	}
	link, err := t.nl.LinkByName(cfg.Name)
	if err != nil {
		td.Close()
		return nil, fmt.Errorf("wireguard: %s: %w", cfg.Name, err)
	}
	t.link = link.Attrs().Index
	tunNL, err := t.ns.netlink()
	if err != nil {
		td.Close()
		return nil, fmt.Errorf("wireguard: netlink: %w", err)
	}
	t.tun = &nsTUN{Device: td, index: t.link, nl: tunNL}
	t.bind = &nsBind{Bind: conn.NewDefaultBind(), ns: t.ns, port: uint16(cfg.ListenPort)}
	t.dev = device.NewDevice(t.tun, t.bind, wgLogger(t.log))
	if err := t.dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", cfg.PrivateKey.hex(), cfg.ListenPort)); err != nil {
		return nil, fmt.Errorf("wireguard: configure %s: %w", cfg.Name, err)
	}
	if cfg.Address.IsValid() {
		if err := t.nl.AddrReplace(link, &netlink.Addr{IPNet: prefixNet(cfg.Address)}); err != nil {
			return nil, fmt.Errorf("wireguard: address %s on %s: %w", cfg.Address, cfg.Name, err)
		}
	}
	if err := t.nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("wireguard: set %s up: %w", cfg.Name, err)
	}
	// The link going up also brings the device up (wireguard-go watches
	// it); doing it here reports a port already taken at once.
	if err := t.dev.Up(); err != nil {
		return nil, fmt.Errorf("wireguard: start %s on UDP port %d: %w", cfg.Name, cfg.ListenPort, err)
	}
	// Up says nothing when the device's own goroutine got there first (or
	// the device stopped): ask the sockets.
	if open, err := t.bind.state(); !open {
		if err == nil {
			err = errors.New("the device stopped")
		}
		return nil, fmt.Errorf("wireguard: start %s on UDP port %d: %w", cfg.Name, cfg.ListenPort, err)
	}
	t.stop = context.AfterFunc(ctx, func() {
		if err := t.Close(); err != nil {
			t.log.Warn("closing the tunnel", "err", err)
		}
	})
	ok = true
	t.log.Info("wireguard tunnel up", "publicKey", pub.String(), "port", cfg.ListenPort, "mtu", cfg.MTU, "address", cfg.Address)
	return t, nil
}

func wgLogger(log *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
		Errorf:   func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) },
	}
}

// PublicKey is this node's public key, to publish with SignKey.
func (t *Tunnel) PublicKey() Key {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pub
}

// SetPrivateKey replaces this node's key (after a certificate renewal,
// see LoadNodeKey). Sessions end and are made again with the new key once
// peers have it: publish its annotation.
func (t *Tunnel) SetPrivateKey(k Key) error {
	pub, err := k.PublicKey()
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("wireguard: tunnel closed")
	}
	if err := t.dev.IpcSet("private_key=" + k.hex() + "\n"); err != nil {
		return fmt.Errorf("wireguard: set the private key of %s: %w", t.cfg.Name, err)
	}
	if _, ok := t.peers[pub]; ok {
		// wireguard-go drops a peer with the device's own key.
		t.dirty = true
	}
	t.cfg.PrivateKey, t.pub = k, pub
	t.log.Info("wireguard key replaced", "publicKey", pub.String())
	return nil
}

// Index is the device's interface index, which routes over it name.
func (t *Tunnel) Index() int { return t.link }

// Name is the device's name.
func (t *Tunnel) Name() string { return t.cfg.Name }

// ListenPort is the UDP port the device receives on.
func (t *Tunnel) ListenPort() int { return t.cfg.ListenPort }

// SetPeers makes the given peers the device's only peers and the
// destinations of its routes. A peer is refused, and never configured, when
// its signed key does not verify against Config.Trust (another cluster,
// another node's certificate, tampered, expired, unsigned), when it is this
// node's own key or another listed peer's, when its endpoint or allowed IPs
// are invalid, or when its allowed IPs overlap those of a peer whose name
// sorts first. Refusals are logged once each and returned by node name;
// err is a failure to configure the device or its routes (call again).
// Calling it again with the same peers changes nothing, and keeps the
// peers' sessions.
func (t *Tunnel) SetPeers(peers []Peer) (refused map[string]error, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("wireguard: tunnel closed")
	}
	want, refused := validatePeers(peers, t.pub, t.cfg.Trust(), t.cfg.Now())
	t.logRefusals(refused)

	var b strings.Builder
	if t.dirty {
		b.WriteString("replace_peers=true\n")
	}
	for k := range t.peers {
		if _, ok := want[k]; !ok && !t.dirty {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", k.hex())
		}
	}
	var later []Key
	for k, p := range want {
		old, known := t.peers[k]
		known = known && !t.dirty
		if known && old.endpoint == p.endpoint && slices.Equal(old.allowed, p.allowed) {
			continue
		}
		fmt.Fprintf(&b, "public_key=%s\nendpoint=%s\nreplace_allowed_ips=true\n", k.hex(), p.endpoint)
		for _, a := range p.allowed {
			fmt.Fprintf(&b, "allowed_ip=%s\n", a)
		}
		if known || t.cfg.Keepalive == 0 {
			continue
		}
		// A new peer is greeted: turning its keepalive on sends one at
		// once, which starts a handshake (so a restarted node is reached
		// at once, not when its peers' sessions time out).
		if bytes.Compare(t.pub[:], k[:]) < 0 {
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(t.cfg.Keepalive/time.Second))
		} else {
			later = append(later, k)
		}
	}
	if b.Len() > 0 {
		if err := t.dev.IpcSet(b.String()); err != nil {
			t.dirty = true
			return refused, fmt.Errorf("wireguard: configure peers of %s: %w", t.cfg.Name, err)
		}
	}
	t.dirty = false
	t.peers = want
	for k, timer := range t.greet {
		if _, ok := want[k]; !ok {
			timer.Stop()
			delete(t.greet, k)
		}
	}
	for _, k := range later {
		if old := t.greet[k]; old != nil {
			old.Stop()
		}
		t.greet[k] = time.AfterFunc(greetDelay, func() { t.greetPeer(k) })
	}
	if t.cfg.LeaveRoutes {
		return refused, nil
	}
	if err := t.syncRoutes(want); err != nil {
		return refused, err
	}
	return refused, nil
}

// greetPeer turns a peer's keepalive on, unless the peer is gone.
func (t *Tunnel) greetPeer(k Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.peers[k]; !ok || t.closed || t.greet[k] == nil {
		return
	}
	delete(t.greet, k)
	cfg := fmt.Sprintf("public_key=%s\nupdate_only=true\npersistent_keepalive_interval=%d\n", k.hex(), int(t.cfg.Keepalive/time.Second))
	if err := t.dev.IpcSet(cfg); err != nil {
		t.log.Warn("turning a peer's keepalive on", "node", t.peers[k].name, "err", err)
	}
}

func (t *Tunnel) logRefusals(refused map[string]error) {
	for name, err := range refused {
		if t.refused[name] != err.Error() {
			t.log.Warn("refused a wireguard peer", "node", name, "err", err)
			t.refused[name] = err.Error()
		}
	}
	for name := range t.refused {
		if refused[name] == nil {
			delete(t.refused, name)
		}
	}
}

// Handshakes returns, per configured peer (by node name), when the last
// handshake with it completed; a peer never reached is absent. A session
// lasts at most 3 minutes without a new handshake, so a time older than
// that means the peer is not answering.
func (t *Tunnel) Handshakes() (map[string]time.Time, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("wireguard: tunnel closed")
	}
	dump, err := t.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("wireguard: read %s: %w", t.cfg.Name, err)
	}
	out := map[string]time.Time{}
	var peer string
	for line := range strings.SplitSeq(dump, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "public_key":
			peer = ""
			if raw, err := hex.DecodeString(v); err == nil && len(raw) == KeySize {
				peer = t.peers[Key(raw)].name
			}
		case "last_handshake_time_sec":
			if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 0 && peer != "" {
				out[peer] = time.Unix(sec, 0)
			}
		}
	}
	return out, nil
}

// Healthy reports whether the device is receiving on its UDP port: an
// error when it stopped, or when its sockets are closed (wireguard-go
// closes and reopens them when it is brought down and up, and the reopening
// fails if another program took the port meanwhile).
func (t *Tunnel) Healthy() error {
	select {
	case <-t.dev.Wait():
		return fmt.Errorf("wireguard: %s stopped", t.cfg.Name)
	default:
	}
	if open, err := t.bind.state(); !open {
		if err == nil {
			err = errors.New("sockets closed")
		}
		return fmt.Errorf("wireguard: %s is not listening on UDP port %d: %w", t.cfg.Name, t.cfg.ListenPort, err)
	}
	return nil
}

// Done is closed once the device has stopped: after Close, when the
// context ends, or when the device was deleted from outside (ip link del):
// its owner then closes the Tunnel and makes a new one.
func (t *Tunnel) Done() <-chan struct{} { return t.dev.Wait() }

// Close removes the device, and with it its routes, and stops
// wireguard-go. It can be called more than once.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.stop != nil {
		t.stop()
	}
	for _, timer := range t.greet {
		timer.Stop()
	}
	return t.teardown()
}

// teardown releases whatever New made so far.
func (t *Tunnel) teardown() error {
	var err error
	if t.dev != nil {
		// Closes the TUN file: the kernel deletes the device and its routes.
		t.dev.Close()
	}
	if t.tun != nil {
		if t.dev == nil {
			t.tun.Close()
		}
		t.tun.closeNetlink()
	}
	if t.nl != nil {
		if l, lerr := t.nl.LinkByIndex(t.link); t.link != 0 && lerr == nil && l.Attrs().Name == t.cfg.Name {
			if derr := t.nl.LinkDel(l); derr != nil && !errors.Is(derr, unix.ENODEV) {
				err = fmt.Errorf("wireguard: remove %s: %w", t.cfg.Name, derr)
			}
		}
		t.nl.Close()
	}
	if t.ns != nil {
		t.ns.close()
	}
	t.routes = nil
	t.peers = nil
	return err
}
