package podnet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// WireGuardConfig describes the node's WireGuard device (modes wireguard
// and auto).
type WireGuardConfig struct {
	// Port is the UDP port every node's device listens on (peers are sent
	// to InternalIP:Port, so it is one value cluster-wide); 0 means
	// wireguard.DefaultPort.
	Port int
	// MTU of the device; 0 means wireguard.DefaultMTU.
	MTU int
	// DataDir is the agent's data directory, where the key is kept.
	DataDir string
	// Identity is the node's identity in use (identity.Live.Node): the key
	// is signed with its certificate, and made again when it is renewed.
	Identity func() *identity.Node
	// Trust is the CA pool peers' keys must chain to (identity.Live.Pool).
	Trust func() *x509.CertPool
}

func (c WireGuardConfig) check() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("wireguard: UDP port %d out of 1..65535", c.Port)
	case c.Identity == nil || c.Trust == nil:
		return errors.New("wireguard: the node's identity and the cluster's CA pool are needed to sign and check keys")
	}
	return nil
}

// wgDevice is the running WireGuard device (*wireguard.Tunnel).
type wgDevice interface {
	Index() int
	SetPeers(peers []wireguard.Peer) (map[string]error, error)
	SetPrivateKey(k wireguard.Key) error
	Done() <-chan struct{}
	Close() error
}

// wgBackend reaches a peer's pods through the WireGuard device: a route to
// its subnet over the device (the Router owns it; the device is made with
// LeaveRoutes), and the peer configured with its verified key, its address
// as endpoint and its subnet as allowed IPs.
type wgBackend struct {
	ctx   context.Context // the Router's: the device lives until it ends
	cfg   WireGuardConfig
	netns string // the Router's namespace ("": the agent's)
	log   *slog.Logger
	open  func(ctx context.Context, cfg wireguard.Config) (wgDevice, error)
	now   func() time.Time

	dev    wgDevice     // nil while closed (under auto, while no peer needs it)
	addr   netip.Prefix // the device's address
	self   netip.Prefix // the address it is to have: its subnet's first, /32
	certFP string       // the certificate the key was signed with
	key    *wireguard.NodeKey
	// refused: peers whose published key does not verify, by node, with
	// why (logged when it first happens or changes).
	refused map[string]string
	seen    map[string]string // this pass's refusals
}

func newWGBackend(ctx context.Context, cfg WireGuardConfig, netns string, log *slog.Logger) *wgBackend {
	if cfg.Port == 0 {
		cfg.Port = wireguard.DefaultPort
	}
	return &wgBackend{ctx: ctx, cfg: cfg, netns: netns, log: log, open: openWireGuard, now: time.Now,
		refused: map[string]string{}, seen: map[string]string{}}
}

func (w *wgBackend) mode() Mode { return ModeWireGuard }

// prepare keeps the key in line with the node's certificate (a renewal
// makes a new key, put into the running device) and notes the device's
// address in the node's subnet. The device itself is ensureDevice's: the
// key is published even while no device runs (under auto).
func (w *wgBackend) prepare(self netip.Prefix) error {
	clear(w.seen)
	node := w.cfg.Identity()
	if node == nil || len(node.Chain) == 0 {
		return errors.New("wireguard: no node identity to sign the key with")
	}
	if fp := identity.Fingerprint(node.Leaf()); fp != w.certFP {
		nk, err := wireguard.LoadNodeKey(w.cfg.DataDir, node)
		if err != nil {
			return err
		}
		if w.dev != nil && w.key != nil && nk.Private != w.key.Private {
			if err := w.dev.SetPrivateKey(nk.Private); err != nil {
				w.closeDevice()
				return fmt.Errorf("wireguard: putting the renewed key into the device: %w", err)
			}
		}
		if w.key != nil && nk.Why != "" {
			w.log.Info("wireguard key made again with the node certificate", "why", nk.Why, "publicKey", nk.Public.String())
		}
		w.key, w.certFP = nk, fp
	}
	w.self = netip.PrefixFrom(self.Masked().Addr().Next(), 32)
	return nil
}

// ensureDevice keeps the device running, after prepare: one that stopped
// (deleted from outside) or has another address (the node's subnet moved)
// is made again.
func (w *wgBackend) ensureDevice() error {
	if w.dev != nil {
		select {
		case <-w.dev.Done():
			w.log.Warn("the wireguard device stopped; making it again")
			w.closeDevice()
		default:
			if w.addr != w.self {
				w.closeDevice()
			}
		}
	}
	if w.dev != nil {
		return nil
	}
	dev, err := w.open(w.ctx, wireguard.Config{Address: w.self, ListenPort: w.cfg.Port, MTU: w.cfg.MTU,
		PrivateKey: w.key.Private, Trust: w.cfg.Trust, Log: w.log, LeaveRoutes: true, NetNS: w.netns})
	if err != nil {
		return fmt.Errorf("opening the device with address %s: %w", w.self, err)
	}
	w.dev, w.addr = dev, w.self
	return nil
}

// closeDevice closes the device if it runs; the kernel removes the routes
// over it.
func (w *wgBackend) closeDevice() {
	if w.dev == nil {
		return
	}
	if err := w.dev.Close(); err != nil {
		w.log.Warn("closing the wireguard device", "err", err)
	}
	w.dev = nil
}

// takes reports whether the peer published a key that verifies: signed
// with a certificate of this cluster for that very node. A key that does
// not is never used (the peer goes by another backend) and is logged.
func (w *wgBackend) takes(p Peer) bool {
	if p.WireGuardKey == "" {
		return false
	}
	_, err := wireguard.VerifyKey(p.WireGuardKey, p.Node, w.cfg.Trust(), w.now())
	if err == nil {
		return true
	}
	w.seen[p.Node] = err.Error()
	if w.refused[p.Node] != err.Error() {
		w.log.Warn("not reaching a node through wireguard: its published key is refused", "node", p.Node, "err", err)
	}
	return false
}

func (w *wgBackend) route(p Peer) route {
	return route{dst: p.Subnet, dev: w.dev.Index(), node: p.Node}
}

// sync configures exactly peers on the device.
func (w *wgBackend) sync(peers []Peer) error {
	w.refused, w.seen = w.seen, w.refused
	if w.dev == nil {
		return nil // closed: it carries no peer
	}
	list := make([]wireguard.Peer, 0, len(peers))
	for _, p := range peers {
		list = append(list, wgPeer(p, w.cfg.Port))
	}
	_, err := w.dev.SetPeers(list)
	return err
}

// wgPeer is the tunnel's view of a peer: its key, its address and the
// cluster's port, its pod subnet.
func wgPeer(p Peer, port int) wireguard.Peer {
	return wireguard.Peer{Name: p.Node, SignedKey: p.WireGuardKey, Endpoint: netip.AddrPortFrom(p.Addr, uint16(port)),
		AllowedIPs: []netip.Prefix{p.Subnet}}
}

func (w *wgBackend) annotations(ready bool) map[string]string {
	if !ready || w.key == nil {
		return map[string]string{wireguard.Annotation: ""}
	}
	return map[string]string{wireguard.Annotation: w.key.Annotation}
}
