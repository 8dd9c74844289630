package podnet

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// rulesOf lists one chain of the namespace, "-A" lines only.
func rulesOf(t *testing.T, path, table, chain string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(inNetns(t, path, "iptables", "-w", "-t", table, "-S", chain), "\n") {
		if strings.HasPrefix(line, "-A ") {
			out = append(out, line)
		}
	}
	return out
}

// firstIsJump reports whether the hook's first rule, and no other, jumps
// to chain.
func firstIsJump(t *testing.T, path, table, hook, chain string) bool {
	t.Helper()
	rules := rulesOf(t, path, table, hook)
	jumps := 0
	for _, r := range rules {
		if target(r) == chain {
			jumps++
		}
	}
	return len(rules) > 0 && target(rules[0]) == chain && jumps == 1
}

// countingFirewall counts the iptables-restore runs, i.e. the changes.
func countingFirewall(t *testing.T, path, cidr string) (*Firewall, *atomic.Int32) {
	t.Helper()
	f, err := NewFirewall(FirewallConfig{ClusterCIDR: mustCIDR(t, cidr), Log: testLog(t), NetNS: path, Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	exec := f.exec
	f.exec = func(ctx context.Context, stdin string, args ...string) (string, error) {
		if args[0] == "iptables-restore" {
			writes.Add(1)
		}
		return exec(ctx, stdin, args...)
	}
	return f, &writes
}

func TestFirewallInNetns(t *testing.T) {
	_, path := testNetns(t)
	ctx := testContext(t)
	f, writes := countingFirewall(t, path, "10.244.0.0/16")
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if !firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) || !firstIsJump(t, path, "filter", "FORWARD", ChainForward) {
		t.Fatalf("jumps not first:\n%s", inNetns(t, path, "iptables-save"))
	}
	nat := rulesOf(t, path, "nat", ChainPostrouting)
	if len(nat) != 1 || !strings.Contains(nat[0], "-s 10.244.0.0/16 -d 10.244.0.0/16 ! -o shoal0") || !strings.HasSuffix(nat[0], "-j ACCEPT") {
		t.Fatalf("%s = %q", ChainPostrouting, nat)
	}
	fwd := rulesOf(t, path, "filter", ChainForward)
	if len(fwd) != 2 || !strings.Contains(fwd[0], "-s 10.244.0.0/16") || !strings.Contains(fwd[1], "-d 10.244.0.0/16") {
		t.Fatalf("%s = %q", ChainForward, fwd)
	}

	// In place, nothing is written.
	before := writes.Load()
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if writes.Load() != before {
		t.Fatalf("EnsureRules rewrote rules that were in place:\n%s", inNetns(t, path, "iptables-save"))
	}

	// Docker inserts its rules first (as after a restart or a new network).
	inNetns(t, path, "iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "1", "-s", "10.244.1.0/24", "!", "-o", "shoal0", "-j", "MASQUERADE")
	inNetns(t, path, "iptables", "-w", "-I", "FORWARD", "1", "-o", "shoal0", "-j", "DROP")
	if firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) {
		t.Fatal("the test's rule did not go first")
	}
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if !firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) || !firstIsJump(t, path, "filter", "FORWARD", ChainForward) {
		t.Fatalf("jumps not first again:\n%s", inNetns(t, path, "iptables-save"))
	}
	if post := rulesOf(t, path, "nat", "POSTROUTING"); len(post) != 2 || !strings.Contains(post[1], "MASQUERADE") {
		t.Fatalf("someone else's rule lost: %q", post)
	}

	// Another cluster CIDR: the chains are rewritten, the jumps stay single.
	g, _ := countingFirewall(t, path, "10.90.0.0/16")
	if err := g.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if nat := rulesOf(t, path, "nat", ChainPostrouting); len(nat) != 1 || !strings.Contains(nat[0], "10.90.0.0/16") {
		t.Fatalf("after a CIDR change %s = %q", ChainPostrouting, nat)
	}
	if !firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) || !firstIsJump(t, path, "filter", "FORWARD", ChainForward) {
		t.Fatalf("jumps after a CIDR change:\n%s", inNetns(t, path, "iptables-save"))
	}
}

// TestFirewallRunAfterEngineRestart: when the engine's event stream breaks
// and the engine answers again, the rules are put first at once, without
// waiting for the resync.
func TestFirewallRunAfterEngineRestart(t *testing.T) {
	_, path := testNetns(t)
	f, _ := countingFirewall(t, path, "10.244.0.0/16")
	eng := enginetest.New()
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, eng) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	poll.Cond(t, 10*time.Second, "the rules at start", func() bool { return firstIsJump(t, path, "filter", "FORWARD", ChainForward) })

	eng.SetUnavailable(true) // dockerd stops: the stream breaks
	inNetns(t, path, "iptables", "-w", "-I", "FORWARD", "1", "-m", "comment", "--comment", "as docker would", "-j", "ACCEPT")
	time.Sleep(300 * time.Millisecond)
	if firstIsJump(t, path, "filter", "FORWARD", ChainForward) {
		t.Fatal("rules changed while the engine was down")
	}
	eng.SetUnavailable(false) // and starts again, its rules first
	poll.Cond(t, 10*time.Second, "the rules first after the engine came back", func() bool {
		return firstIsJump(t, path, "filter", "FORWARD", ChainForward)
	})
}
