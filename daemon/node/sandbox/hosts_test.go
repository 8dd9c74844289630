package sandbox

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostsEntryWaitsForTheAddressAndIsWrittenOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(path, []byte("127.0.0.1\tlocalhost"), 0o644)
	var calls atomic.Int32
	addrs := func() ([]net.Addr, error) {
		lo := &net.IPNet{IP: net.ParseIP("127.0.0.1").To4(), Mask: net.CIDRMask(8, 32)}
		if calls.Add(1) < 3 { // not wired yet
			return []net.Addr{lo}, nil
		}
		return []net.Addr{lo, &net.IPNet{IP: net.ParseIP("10.244.3.7").To4(), Mask: net.CIDRMask(24, 32)}}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 2 {
		if err := addHostsEntry(ctx, path, addrs); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	host, _ := os.Hostname()
	want := "127.0.0.1\tlocalhost\n10.244.3.7\t" + host + "\n"
	if string(b) != want {
		t.Fatalf("hosts file %q, want %q", b, want)
	}
	if strings.Count(string(b), "10.244.3.7") != 1 {
		t.Fatal("entry written twice")
	}
}
