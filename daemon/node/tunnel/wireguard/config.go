package wireguard

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultName = "shoal.wg"
	DefaultPort = 51820
	// Overhead is what WireGuard adds to each packet over IPv6 (the worse
	// case): outer IP 40, UDP 8, WireGuard header 16 and tag 16 bytes.
	Overhead   = 80
	DefaultMTU = 1500 - Overhead
	// DefaultKeepalive is the interval wg-quick users know.
	DefaultKeepalive = 25 * time.Second
)

// MTUFor is the tunnel MTU over an underlay of the given MTU.
func MTUFor(underlay int) int { return underlay - Overhead }

// Config is what New makes a Tunnel of.
type Config struct {
	// Name of the device; DefaultName when empty.
	Name string
	// Address is this node's address on the tunnel (e.g. its pod /24's
	// gateway as a /32): the source of what the host itself sends through
	// it. Optional.
	Address netip.Prefix
	// ListenPort is the UDP port peers send to; DefaultPort when 0.
	ListenPort int
	// MTU of the device; DefaultMTU when 0 (use MTUFor(underlay MTU)).
	MTU int
	// Keepalive is how often an idle peer is sent a keepalive
	// (DefaultKeepalive when 0, none when negative). It keeps stateful
	// firewalls and NAT on the way open and, since a newly configured peer
	// is sent one at once, makes a restarted node handshake with its peers
	// as soon as it knows them, instead of when they next time out.
	Keepalive time.Duration
	// PrivateKey is this node's key (KeyForCertificate). Required.
	PrivateKey Key
	// Trust returns the CA certificates peers' keys must chain to, at the
	// moment of asking (identity.Live.Pool). Required.
	Trust func() *x509.CertPool
	// LeaveRoutes leaves routing the peers' allowed IPs over the device to
	// the caller (the pod network's Router, which owns every route to a
	// node's pods): SetPeers then installs no route, so that one route never
	// has two owners rewriting it.
	LeaveRoutes bool
	// NetNS is the path of the network namespace to make the device in;
	// empty for the caller's.
	NetNS string
	Log   *slog.Logger
	// Now is the clock certificates are checked against; time.Now if nil.
	Now func() time.Time
}

// ifNameSize is the kernel's IFNAMSIZ: names are shorter.
const ifNameSize = 16

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if len(c.Name) >= ifNameSize || strings.ContainsAny(c.Name, "/ \t\n") {
		return fmt.Errorf("wireguard: Name %q is not a valid interface name (at most %d characters, no '/' or spaces)", c.Name, ifNameSize-1)
	}
	if c.ListenPort == 0 {
		c.ListenPort = DefaultPort
	}
	if c.ListenPort < 1 || c.ListenPort > 65535 {
		return fmt.Errorf("wireguard: ListenPort %d is not a UDP port (1-65535)", c.ListenPort)
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < 1280 || c.MTU > 65535-Overhead {
		return fmt.Errorf("wireguard: MTU %d out of range (1280-%d; use MTUFor(the underlay's MTU))", c.MTU, 65535-Overhead)
	}
	switch {
	case c.Keepalive == 0:
		c.Keepalive = DefaultKeepalive
	case c.Keepalive < 0:
		c.Keepalive = 0
	case c.Keepalive < time.Second || c.Keepalive > 65535*time.Second:
		return fmt.Errorf("wireguard: Keepalive %v out of range (1s-65535s, or negative for none)", c.Keepalive)
	}
	if c.PrivateKey.IsZero() {
		return errors.New("wireguard: no PrivateKey (see KeyForCertificate)")
	}
	if c.Trust == nil {
		return errors.New("wireguard: no Trust (the cluster CA pool peers' keys are checked against)")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
