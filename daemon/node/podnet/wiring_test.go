package podnet

import (
	"net/netip"
	"testing"
)

func TestPodMACIsMadeFromTheAddress(t *testing.T) {
	a, b := PodMAC(netip.MustParseAddr("10.244.3.7")), PodMAC(netip.MustParseAddr("10.244.3.8"))
	if a.String() != "0a:58:0a:f4:03:07" {
		t.Fatalf("PodMAC(10.244.3.7) = %s", a)
	}
	if a.String() == b.String() {
		t.Fatal("two addresses, one MAC")
	}
	// Locally administered and unicast: no vendor's address, no multicast.
	if a[0]&0x02 == 0 || a[0]&0x01 != 0 {
		t.Fatalf("%s is not a locally administered unicast address", a)
	}
}
