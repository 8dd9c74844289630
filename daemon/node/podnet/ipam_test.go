package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIPAMAllocatesStableAddressesThatSurviveAReopen(t *testing.T) {
	dir := t.TempDir()
	subnet := netip.MustParsePrefix("10.244.3.0/24")
	a, err := OpenIPAM(dir, subnet)
	if err != nil {
		t.Fatal(err)
	}
	ip1, err := a.Allocate("pod-1")
	if err != nil {
		t.Fatal(err)
	}
	if ip1 != netip.MustParseAddr("10.244.3.2") {
		t.Fatalf("first address %s, want 10.244.3.2 (after the gateway)", ip1)
	}
	again, _ := a.Allocate("pod-1")
	if again != ip1 {
		t.Fatalf("a pod asking twice got %s then %s", ip1, again)
	}
	ip2, _ := a.Allocate("pod-2")
	if ip2 == ip1 {
		t.Fatal("two pods share an address")
	}
	// A new manager on the same directory (an agent restart) knows them.
	b, err := OpenIPAM(dir, subnet)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Lookup("pod-1"); !ok || got != ip1 {
		t.Fatalf("after reopen pod-1 has %s %v, want %s", got, ok, ip1)
	}
	if got, _ := b.Allocate("pod-2"); got != ip2 {
		t.Fatalf("after reopen pod-2 got %s, want %s", got, ip2)
	}
	// A freed address is not handed out again at once.
	if err := b.Release("pod-1"); err != nil {
		t.Fatal(err)
	}
	ip3, _ := b.Allocate("pod-3")
	if ip3 == ip1 || ip3 == ip2 {
		t.Fatalf("pod-3 got %s, reused too early", ip3)
	}
	c, _ := OpenIPAM(dir, subnet)
	if _, ok := c.Lookup("pod-1"); ok {
		t.Fatal("a released address came back after reopen")
	}
}

func TestIPAMExhaustionNamesTheFix(t *testing.T) {
	a, err := OpenIPAM(t.TempDir(), netip.MustParsePrefix("10.244.0.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	// A /29 has 8 addresses: network, gateway, broadcast are not pods'.
	for i := range 5 {
		ip, err := a.Allocate(fmt.Sprint("p", i))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[ip] || ip == netip.MustParseAddr("10.244.0.1") || ip == netip.MustParseAddr("10.244.0.7") || ip == netip.MustParseAddr("10.244.0.0") {
			t.Fatalf("bad address %s", ip)
		}
		seen[ip] = true
	}
	_, err = a.Allocate("one-too-many")
	if !errors.Is(err, ErrNoAddress) || !strings.Contains(err.Error(), "10.244.0.0/29") || !strings.Contains(err.Error(), "cordon") {
		t.Fatalf("exhaustion error %v: want ErrNoAddress naming the subnet and the fix", err)
	}
	if _, ok := a.Lookup("one-too-many"); ok {
		t.Fatal("a failed allocation left an assignment")
	}
	a.Release("p2")
	if _, err := a.Allocate("one-too-many"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestIPAMReserveRetainAndReset(t *testing.T) {
	dir := t.TempDir()
	a, _ := OpenIPAM(dir, netip.MustParsePrefix("10.244.1.0/24"))
	if err := a.Reserve("old", netip.MustParseAddr("10.244.1.9")); err != nil {
		t.Fatal(err)
	}
	if err := a.Reserve("other", netip.MustParseAddr("10.244.1.9")); err == nil {
		t.Fatal("two pods reserved one address")
	}
	if err := a.Reserve("x", netip.MustParseAddr("10.244.1.1")); err == nil {
		t.Fatal("the gateway was reserved for a pod")
	}
	if err := a.Reserve("x", netip.MustParseAddr("10.9.9.9")); err == nil {
		t.Fatal("an address outside the subnet was reserved")
	}
	a.Allocate("live")
	gone, err := a.Retain(func(uid string) bool { return uid == "live" })
	if err != nil || len(gone) != 1 || gone[0] != "old" {
		t.Fatalf("retain freed %v (%v), want [old]", gone, err)
	}
	b, _ := OpenIPAM(dir, netip.MustParsePrefix("10.244.1.0/24"))
	if len(b.Held()) != 1 {
		t.Fatalf("after retain and reopen: %v", b.Held())
	}
	// Another subnet: the old assignments mean nothing.
	c, _ := OpenIPAM(dir, netip.MustParsePrefix("10.244.2.0/24"))
	if len(c.Held()) != 0 {
		t.Fatalf("assignments of another subnet kept: %v", c.Held())
	}
	if err := b.Reset(netip.MustParsePrefix("10.244.2.0/24")); err != nil || len(b.Held()) != 0 {
		t.Fatalf("reset: %v %v", err, b.Held())
	}
}

func TestIPAMCorruptFileIsAClearError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, IPAMFile), []byte("{not json"), 0o600)
	_, err := OpenIPAM(dir, netip.MustParsePrefix("10.244.1.0/24"))
	if err == nil || !strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("corrupt file: %v", err)
	}
}
