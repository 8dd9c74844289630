package daemon

import (
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/gossip"
)

func TestReservedPortsAreTheAgentsListeningPorts(t *testing.T) {
	cfg := Config{APIAddr: "0.0.0.0:7480", IngressAddr: "0.0.0.0:80", IngressTLSAddr: "", DNSAddr: "off"}
	got := reservedPorts(cfg, []gossip.Member{
		{Name: "h1", Addr: "10.0.0.11:7481", APIAddr: "https://10.0.0.11:7480"},
		{Name: "h2", Addr: "10.0.0.12:7946", APIAddr: "https://10.0.0.12:9443"},
	})
	for _, want := range []int32{53, 80, 7480, 7481, 7946, 9443} {
		if !slices.Contains(got, want) {
			t.Errorf("port %d missing from %v", want, got)
		}
	}
	if slices.Contains(got, 0) {
		t.Errorf("a port 0 in %v", got)
	}
}
