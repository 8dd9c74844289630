package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels("zone=a, disk=ssd,empty=")
	if err != nil || got["zone"] != "a" || got["disk"] != "ssd" || got["empty"] != "" || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseLabels("novalue"); err == nil {
		t.Fatal("a label without '=' was accepted")
	}
}

func TestEnvironmentFillsFlagsNotGiven(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	dir := fs.String("data-dir", "/var/lib/shoal", "")
	addr := fs.String("api-addr", "0.0.0.0:7480", "")
	if err := fs.Parse([]string{"--api-addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOAL_DATA_DIR", "/srv/shoal")
	t.Setenv("SHOAL_API_ADDR", "10.0.0.1:9")
	if err := envDefaults(fs); err != nil {
		t.Fatal(err)
	}
	if *dir != "/srv/shoal" || *addr != "127.0.0.1:1" {
		t.Fatalf("data-dir %q api-addr %q: the environment must fill only flags not given", *dir, *addr)
	}
}

func TestConfigValidation(t *testing.T) {
	c := DefaultConfig()
	c.Name = "Bad_Name"
	if err := c.validate(); err == nil {
		t.Fatal("an invalid node name was accepted")
	}
	c.Name = "node-1"
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDNSFlags(t *testing.T) {
	for _, c := range []struct {
		addr      string
		upstreams []string
		field     string // "" when valid
	}{
		{"", nil, ""},
		{"off", nil, ""},
		{"10.0.0.5:53", []string{"192.0.2.53", "192.0.2.54:5353"}, ""},
		{"10.0.0.5", nil, "--dns-addr"},
		{"", []string{"dns.example.com"}, "--dns-upstream"},
	} {
		cfg := DefaultConfig()
		cfg.Name, cfg.DNSAddr, cfg.DNSUpstreams = "node-1", c.addr, c.upstreams
		err := cfg.validate()
		if (err == nil) != (c.field == "") || (err != nil && !strings.Contains(err.Error(), c.field)) {
			t.Errorf("dns-addr %q upstreams %v: got %v, want an error naming %q", c.addr, c.upstreams, err, c.field)
		}
	}
	cfg := DefaultConfig()
	if got := cfg.dnsHostAddr("10.0.0.5"); got != "10.0.0.5:53" {
		t.Errorf("default host address %q", got)
	}
	cfg.DNSAddr = "off"
	if got := cfg.dnsHostAddr("10.0.0.5"); got != "" {
		t.Errorf("off gave %q", got)
	}
	if got := splitList(" a, ,b,"); strings.Join(got, "|") != "a|b" {
		t.Errorf("splitList %q", got)
	}
	search := dnsSearch("corp.local")("shop")
	if strings.Join(search, " ") != "shop.svc.corp.local svc.corp.local corp.local" {
		t.Errorf("search path %v", search)
	}
}

func TestPodSecurityDefaultFlag(t *testing.T) {
	if got := DefaultConfig().PodSecurityDefault; got != "baseline" {
		t.Fatalf("default %q, want baseline", got)
	}
	for _, level := range []string{"privileged", "baseline", "restricted"} {
		c := DefaultConfig()
		c.Name, c.PodSecurityDefault = "node-1", level
		if err := c.validate(); err != nil {
			t.Errorf("%s: %v", level, err)
		}
	}
	c := DefaultConfig()
	c.Name, c.PodSecurityDefault = "node-1", "strict"
	if err := c.validate(); err == nil || !strings.Contains(err.Error(), `--pod-security-default "strict": give privileged, baseline or restricted`) {
		t.Fatalf("got %v", err)
	}
}

func TestPodNetworkBackendFlag(t *testing.T) {
	if got := DefaultConfig().PodNetworkBackend; got != "auto" {
		t.Fatalf("default %q, want auto", got)
	}
	for _, b := range []string{"host-gw", "vxlan", "wireguard", "auto"} {
		c := DefaultConfig()
		c.Name, c.PodNetworkBackend = "node-1", b
		if err := c.validate(); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	for b, want := range map[string]string{
		"gre": `--pod-network-backend "gre": give host-gw, vxlan, wireguard or auto`,
	} {
		c := DefaultConfig()
		c.Name, c.PodNetworkBackend = "node-1", b
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", b, err, want)
		}
	}
	if got := DefaultConfig().WireGuardPort; got != 51820 {
		t.Errorf("default WireGuard port %d, want 51820", got)
	}
	for _, port := range []int{0, -1, 65536} {
		c := DefaultConfig()
		c.Name, c.WireGuardPort = "node-1", port
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "--wireguard-port") {
			t.Errorf("port %d: got %v, want an error naming --wireguard-port", port, err)
		}
	}
}

func TestAPIAllowedHosts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name, cfg.APIAddr, cfg.Advertise = "node-1", "api.internal:7480", "10.0.0.5:7481"
	cfg.APIAllowedHosts = []string{"Shoal.Example.com"}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cfg.apiAllowedHosts(), " ")
	for _, want := range []string{"node-1", "api.internal", "Shoal.Example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("allowed hosts %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "10.0.0.5") {
		t.Errorf("allowed hosts %q list an IP address (IP addresses always pass)", got)
	}
	for _, bad := range []string{"host:7480", "http://host", "a b"} {
		cfg.APIAllowedHosts = []string{bad}
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "--api-allowed-hosts") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestMaxClockOffsetFlag(t *testing.T) {
	cmd := NewAgentCommand("test")
	if f := cmd.Flags().Lookup("max-clock-offset"); f == nil || f.DefValue != "500ms" {
		t.Fatalf("--max-clock-offset default: %+v", f)
	}
	if f := cmd.Flags().Lookup("drop-future-records"); f == nil || f.DefValue != "false" {
		t.Fatalf("--drop-future-records: %+v", f)
	}
	c := DefaultConfig()
	c.Name = "node-1"
	for _, bad := range []time.Duration{-time.Millisecond, 2 * time.Hour} {
		c.MaxClockOffset = bad
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "--max-clock-offset") {
			t.Errorf("--max-clock-offset %s: %v", bad, err)
		}
	}
	c.MaxClockOffset = 0
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEngineCheckFlags(t *testing.T) {
	cmd := NewAgentCommand("test")
	for flag, def := range map[string]string{"engine-check-interval": "2s", "engine-check-timeout": "3s"} {
		if f := cmd.Flags().Lookup(flag); f == nil || f.DefValue != def {
			t.Fatalf("--%s default: %+v", flag, f)
		}
	}
	c := DefaultConfig()
	c.Name = "node-1"
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []time.Duration{0, time.Millisecond, 2 * time.Minute} {
		c := c
		c.EngineCheckInterval = bad
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "--engine-check-interval") {
			t.Errorf("--engine-check-interval %s: %v", bad, err)
		}
		c = DefaultConfig()
		c.Name = "node-1"
		c.EngineCheckTimeout = bad
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "--engine-check-timeout") {
			t.Errorf("--engine-check-timeout %s: %v", bad, err)
		}
	}
}
