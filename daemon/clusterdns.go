package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/dns"
)

// clusterDNS is the agent's DNS server with its two kinds of address: the
// host address (--dns-addr), fixed for the agent's life, and the pod
// bridge's gateway, which pods use and which moves with the node's subnet.
type clusterDNS struct {
	srv *dns.Server
	log *slog.Logger
	// listenGateway is false in simulation: pods are given the gateway,
	// nothing listens there.
	listenGateway bool

	mu        sync.Mutex
	gateway   string             // "10.244.1.1", "" before the bridge exists
	stopGwDNS context.CancelFunc // ends the listener on the gateway
}

// newClusterDNS builds the server from the agent's flags.
func newClusterDNS(cfg Config, listenGateway bool, log *slog.Logger) (*clusterDNS, error) {
	dc := dns.DefaultConfig()
	dc.Domain = cfg.ClusterDomain
	dc.ClusterCIDR = netip.MustParsePrefix(cfg.ClusterCIDR) // checked by validate
	dc.ServiceCIDR = netip.MustParsePrefix(cfg.ServiceCIDR)
	dc.Upstreams = cfg.DNSUpstreams
	srv, err := dns.New(dc, log)
	if err != nil {
		return nil, fmt.Errorf("cluster dns: %w", err)
	}
	return &clusterDNS{srv: srv, log: log.With("component", "dns"), listenGateway: listenGateway}, nil
}

// hostAddr is the address --dns-addr names, "" when turned off.
func (c Config) dnsHostAddr(advertise string) string {
	switch c.DNSAddr {
	case "off":
		return ""
	case "":
		return net.JoinHostPort(advertise, "53")
	}
	return c.DNSAddr
}

// serveHost serves the host address until ctx ends. A port already taken
// (another resolver on the host) is logged and retried: pods still get
// answers at the gateway meanwhile.
func (d *clusterDNS) serveHost(ctx context.Context, addr string) {
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		err := d.srv.Serve(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		d.log.Error("cluster dns not serving on the host address; retrying", "addr", addr, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// useGateway serves the pod bridge's gateway, port 53, in place of the
// previous gateway. Failing to bind is logged: pods then fail lookups of
// cluster names, but the rest of the node works.
func (d *clusterDNS) useGateway(ctx context.Context, gw net.IP) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopGwDNS != nil {
		d.stopGwDNS()
	}
	lctx, cancel := context.WithCancel(ctx)
	d.stopGwDNS, d.gateway = cancel, gw.String()
	if !d.listenGateway {
		return
	}
	addr := net.JoinHostPort(d.gateway, "53")
	if err := d.srv.Listen(lctx, addr); err != nil {
		d.log.Error("cluster dns not serving pods", "addr", addr, "err", err)
	}
}

// servers is the name server pods are given: the current gateway.
func (d *clusterDNS) servers() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gateway == "" {
		return nil
	}
	return []string{d.gateway}
}

// shutdown stops every listener.
func (d *clusterDNS) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Warn("stopping cluster dns", "err", err)
	}
}

// dnsSearch is the search path pods of a namespace get, as Kubernetes gives.
func dnsSearch(domain string) func(ns string) []string {
	return func(ns string) []string {
		return []string{ns + ".svc." + domain, "svc." + domain, domain}
	}
}
