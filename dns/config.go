package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Config is the cluster DNS server's configuration. Zero fields take the
// defaults of DefaultConfig, except Upstreams/ResolvConf: with neither set,
// names outside the cluster are answered SERVFAIL.
type Config struct {
	// Domain is the cluster domain ("cluster.local").
	Domain string
	// TTL of every answer from the cluster zone, and the SOA minimum that
	// clients cache negative answers for (5 s).
	TTL time.Duration
	// ClusterCIDR and ServiceCIDR are the pod and service networks; their
	// reverse zones are answered from the cluster state (NXDOMAIN when
	// unknown) instead of being forwarded. Either may be left zero.
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix

	// Upstreams are the resolvers for every other name, "ip" or "ip:port".
	// When empty they are read from the nameserver lines of ResolvConf.
	Upstreams []string
	// ResolvConf is read when Upstreams is empty ("/etc/resolv.conf").
	// Loopback nameservers such as systemd-resolved's 127.0.0.53 are kept:
	// the agent runs in the host's network namespace and reaches them.
	ResolvConf string
	// UpstreamTimeout bounds one exchange with one upstream (2 s).
	UpstreamTimeout time.Duration
	// CacheSize is the number of forwarded answers kept (10000).
	CacheSize int
	// CacheMaxTTL caps how long a forwarded answer is kept (60 s).
	CacheMaxTTL time.Duration
	// CacheMaxNegativeTTL caps how long NXDOMAIN and NODATA are kept (30 s).
	CacheMaxNegativeTTL time.Duration

	// RebuildInterval is the least time between two zone rebuilds while
	// following a Source: bursts of changes make one rebuild (50 ms).
	RebuildInterval time.Duration

	// Bounds on the work one source, and all sources together, can make.
	// See the package documentation (Limits).

	// RateLimit is the UDP responses per second one source address gets
	// (300), RateBurst how many it may get at once (600). Loopback and the
	// pod network (ClusterCIDR) are not limited. Negative: no limit.
	RateLimit float64
	RateBurst int
	// RateLimitSlip answers every Nth query over the limit with an empty
	// truncated response (TC set, no larger than the query), so that a
	// client whose address an attacker uses can still ask over TCP; the
	// others are dropped (2, as BIND's response-rate-limiting). Negative:
	// drop them all.
	RateLimitSlip int
	// RateLimitSources is how many source addresses the limiter tracks at
	// once (16384); past it, idle sources are forgotten first.
	RateLimitSources int
	// Workers bounds the goroutines answering UDP queries the fast path
	// does not (128); QueueSize bounds the queries waiting for them (1024).
	// A query arriving at a full queue is dropped.
	Workers   int
	QueueSize int
	// MaxForwards bounds the questions waiting for an upstream at once
	// (100); a name to forward past it is answered SERVFAIL at once.
	MaxForwards int
	// MaxTCPConns bounds the TCP connections served at once (256), and
	// MaxTCPConnsPerSource those of one source address (16); a connection
	// past either is closed at once.
	MaxTCPConns          int
	MaxTCPConnsPerSource int
}

// DefaultConfig is the configuration of an agent on a Docker host.
func DefaultConfig() Config {
	return Config{
		Domain:               "cluster.local",
		TTL:                  5 * time.Second,
		ClusterCIDR:          netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR:          netip.MustParsePrefix("10.96.0.0/16"),
		ResolvConf:           "/etc/resolv.conf",
		UpstreamTimeout:      2 * time.Second,
		CacheSize:            10000,
		CacheMaxTTL:          60 * time.Second,
		CacheMaxNegativeTTL:  30 * time.Second,
		RebuildInterval:      50 * time.Millisecond,
		RateLimit:            300,
		RateBurst:            600,
		RateLimitSlip:        2,
		RateLimitSources:     16384,
		Workers:              128,
		QueueSize:            1024,
		MaxForwards:          100,
		MaxTCPConns:          256,
		MaxTCPConnsPerSource: 16,
	}
}

// settings is a Config with defaults applied and names normalised.
type settings struct {
	Config
	domain    string // lower case, absolute: "cluster.local."
	ttl       uint32 // seconds
	upstreams []string
}

func (c Config) settings() (settings, error) {
	d := DefaultConfig()
	if c.Domain == "" {
		c.Domain = d.Domain
	}
	if c.TTL <= 0 {
		c.TTL = d.TTL
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = d.UpstreamTimeout
	}
	if c.CacheSize <= 0 {
		c.CacheSize = d.CacheSize
	}
	if c.CacheMaxTTL <= 0 {
		c.CacheMaxTTL = d.CacheMaxTTL
	}
	if c.CacheMaxNegativeTTL <= 0 {
		c.CacheMaxNegativeTTL = d.CacheMaxNegativeTTL
	}
	if c.RebuildInterval <= 0 {
		c.RebuildInterval = d.RebuildInterval
	}
	if c.RateLimit == 0 {
		c.RateLimit = d.RateLimit
	}
	for _, v := range []struct {
		p   *int
		def int
	}{
		{&c.RateBurst, d.RateBurst}, {&c.RateLimitSlip, d.RateLimitSlip}, {&c.RateLimitSources, d.RateLimitSources},
		{&c.Workers, d.Workers}, {&c.QueueSize, d.QueueSize}, {&c.MaxForwards, d.MaxForwards},
		{&c.MaxTCPConns, d.MaxTCPConns}, {&c.MaxTCPConnsPerSource, d.MaxTCPConnsPerSource},
	} {
		if *v.p == 0 || (*v.p < 0 && v.p != &c.RateLimitSlip) {
			*v.p = v.def
		}
	}
	s := settings{Config: c}
	domain := strings.ToLower(mdns.Fqdn(strings.TrimSpace(c.Domain)))
	if _, ok := mdns.IsDomainName(domain); !ok || domain == "." {
		return s, &ConfigError{Field: "Domain", Value: c.Domain, Err: errors.New("not a domain name")}
	}
	for _, l := range strings.Split(strings.TrimSuffix(domain, "."), ".") {
		if !isLabel(l) {
			return s, &ConfigError{Field: "Domain", Value: c.Domain, Err: fmt.Errorf("label %q is not an RFC 1123 label", l)}
		}
	}
	s.domain = domain
	ttl := c.TTL / time.Second
	s.ttl = uint32(min(max(ttl, 1), 1<<31-1))
	for field, p := range map[string]netip.Prefix{"ClusterCIDR": c.ClusterCIDR, "ServiceCIDR": c.ServiceCIDR} {
		if p.IsValid() && reverseZones(p) == nil {
			return s, &ConfigError{Field: field, Value: p.String(), Err: errors.New("too short a prefix to serve as reverse zones")}
		}
	}
	ups := c.Upstreams
	if len(ups) == 0 && c.ResolvConf != "" {
		rc, err := mdns.ClientConfigFromFile(c.ResolvConf)
		if err != nil {
			return s, &ConfigError{Field: "ResolvConf", Value: c.ResolvConf, Err: err}
		}
		ups = rc.Servers
	}
	for _, u := range ups {
		addr, err := upstreamAddr(u)
		if err != nil {
			return s, &ConfigError{Field: "Upstreams", Value: u, Err: err}
		}
		s.upstreams = append(s.upstreams, addr)
	}
	return s, nil
}

// upstreamAddr turns "ip" or "ip:port" into "ip:port" (port 53 by default).
func upstreamAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("want an IP address with an optional port: %w", err)
	}
	return net.JoinHostPort(a.String(), "53"), nil
}
