package dns

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestReverseZones(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		first  string
		n      int
	}{
		{"10.244.0.0/16", "244.10.in-addr.arpa.", 1},
		{"10.96.0.0/12", "96.10.in-addr.arpa.", 16},
		{"10.244.1.0/24", "1.244.10.in-addr.arpa.", 1},
		{"10.244.1.0/20", "0.244.10.in-addr.arpa.", 16},
		{"10.0.0.0/8", "10.in-addr.arpa.", 1},
		{"10.244.1.7/32", "7.1.244.10.in-addr.arpa.", 1},
		{"10.0.0.0/7", "10.in-addr.arpa.", 2},
		{"0.0.0.0/0", "0.in-addr.arpa.", 256},
		{"fd00::/64", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", 1},
		{"fd00::/62", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", 4},
	} {
		got := reverseZones(netip.MustParsePrefix(tt.prefix))
		if len(got) != tt.n || got[0] != tt.first {
			t.Errorf("%s: %d zones from %v, want %d from %s", tt.prefix, len(got), got[:min(3, len(got))], tt.n, tt.first)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
			t.Errorf("%s: repeated zones in %v", tt.prefix, got)
		}
	}
	got := reverseZones(netip.MustParsePrefix("10.96.0.0/12"))
	if got[15] != "111.10.in-addr.arpa." {
		t.Errorf("last zone of 10.96.0.0/12 = %s, want 111.10.in-addr.arpa.", got[15])
	}
	// Each zone's names are the prefix's addresses: 10.111.255.255 is in,
	// 10.112.0.0 is not.
	z := map[string]bool{}
	for _, n := range got {
		z[n] = true
	}
	if apexIn(z, reverseName(netip.MustParseAddr("10.111.255.255"))) == "" || apexIn(z, reverseName(netip.MustParseAddr("10.112.0.0"))) != "" {
		t.Error("reverse zones of 10.96.0.0/12 do not cover exactly the prefix")
	}
}

func TestReverseName(t *testing.T) {
	for _, ip := range []string{"10.244.1.5", "255.0.0.1", "fd00::1", "2001:db8::567:89ab"} {
		want, err := mdns.ReverseAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		if got := reverseName(netip.MustParseAddr(ip)); got != want {
			t.Errorf("reverseName(%s) = %s, want %s", ip, got, want)
		}
	}
}

func TestDashedIP(t *testing.T) {
	for _, tt := range []struct {
		label string
		ip    string // "" when the label is no address
	}{
		{"10-244-1-5", "10.244.1.5"},
		{"fd00--1", "fd00::1"},
		{"1-2-3", ""},
		{"1-2-3-4-5", ""},
		{"256-1-1-1", ""},
		{"1--2-3-4", "1::2:3:4"},
		{"web", ""},
		{"--ffff-a00-1", ""}, // no mapped addresses (::ffff:10.0.0.1)
		{"fe80--1%eth0", ""},
		{"", ""},
	} {
		got, ok := parseDashedIP(tt.label)
		if tt.ip == "" {
			if ok {
				t.Errorf("parseDashedIP(%q) = %v, want no address", tt.label, got)
			}
			continue
		}
		if !ok || got.String() != tt.ip {
			t.Errorf("parseDashedIP(%q) = %v %v, want %s", tt.label, got, ok, tt.ip)
		}
		if back := dashedIP(got); back != tt.label {
			t.Errorf("dashedIP(%s) = %s, want %s", got, back, tt.label)
		}
	}
}

func TestIsLabel(t *testing.T) {
	for s, want := range map[string]bool{
		"web": true, "a": true, "a-b": true, "0": true, "db-0": true,
		"": false, "-a": false, "a-": false, "A": false, "a_b": false, "a.b": false,
		string(make([]byte, 64)): false,
	} {
		if got := isLabel(s); got != want {
			t.Errorf("isLabel(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestConfigResolvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	conf := "# written by systemd-resolved\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver fd00::53\noptions edns0 trust-ad\nsearch example.internal\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.ResolvConf = path
	s, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	// Loopback stubs stay: the agent shares the host's network namespace.
	want := []string{"127.0.0.53:53", "10.0.0.2:53", "[fd00::53]:53"}
	if got := s.Upstreams(); !slices.Equal(got, want) {
		t.Errorf("upstreams %v, want %v", got, want)
	}
	c.Upstreams = []string{"1.1.1.1", "9.9.9.9:5353"}
	s2, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(t.Context())
	if got := s2.Upstreams(); !slices.Equal(got, []string{"1.1.1.1:53", "9.9.9.9:5353"}) {
		t.Errorf("explicit upstreams %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Domain", func(c *Config) { c.Domain = "Bad_Domain" }},
		{"Domain", func(c *Config) { c.Domain = "." }},
		{"Domain", func(c *Config) { c.Domain = "a..b" }},
		{"Upstreams", func(c *Config) { c.Upstreams = []string{"dns.google"} }},
		{"ResolvConf", func(c *Config) { c.ResolvConf = filepath.Join(t.TempDir(), "missing") }},
	} {
		c := DefaultConfig()
		tt.edit(&c)
		_, err := New(c, nil)
		var ce *ConfigError
		if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("%+v: error %v, want a ConfigError for %s", c, err, tt.field)
		}
	}
	// Zero values take the defaults.
	s, err := New(Config{Domain: "Shoal.Internal."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	if s.cfg.domain != "shoal.internal." || s.cfg.ttl != 5 || s.cfg.RebuildInterval != 50*time.Millisecond || len(s.cfg.upstreams) != 0 {
		t.Errorf("settings %+v", s.cfg)
	}
	s.SetSnapshot(fixture())
	if got := query(t, s, "web.default.svc.shoal.internal.", mdns.TypeA); len(got.Answer) != 1 {
		t.Errorf("custom domain: %v", got)
	}
	if got := queryFrom(t, s, "127.0.0.1", "web.default.svc.cluster.local.", mdns.TypeA); got.Rcode != mdns.RcodeServerFailure {
		t.Errorf("cluster.local with another domain: %s, want SERVFAIL (forwarded, no upstream)", rcodeName(got.Rcode))
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(2, time.Minute, time.Minute)
	r := reply{answer: []mdns.RR{rr("a.example. 60 IN A 192.0.2.1")}}
	k := func(n string) cacheKey { return cacheKey{name: n, qtype: mdns.TypeA, qclass: mdns.ClassINET} }
	c.put(k("a."), r)
	c.put(k("b."), r)
	c.get(k("a.")) // a is used: b goes first
	c.put(k("c."), r)
	if _, ok := c.get(k("b.")); ok {
		t.Error("b still cached")
	}
	for _, n := range []string{"a.", "c."} {
		if _, ok := c.get(k(n)); !ok {
			t.Errorf("%s evicted", n)
		}
	}
	if c.len() != 2 {
		t.Errorf("%d entries, want 2", c.len())
	}
	// Hits are copies: changing one leaves the cache as it was.
	got, _ := c.get(k("a."))
	got.answer[0].Header().Ttl = 999
	again, _ := c.get(k("a."))
	if again.answer[0].Header().Ttl == 999 {
		t.Error("a hit shares records with the cache")
	}
}
