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

// jumpIndex returns the index of the hook's only jump to chain among its
// rules, -1 when there is none or more than one.
func jumpIndex(t *testing.T, path, table, hook, chain string) int {
	t.Helper()
	at, n := -1, 0
	for i, r := range rulesOf(t, path, table, hook) {
		if target(r) == chain {
			at, n = i, n+1
		}
	}
	if n != 1 {
		return -1
	}
	return at
}

// forwardAt reports whether FORWARD has one jump to ours, right at
// want (an index), below the jump to DOCKER-USER.
func forwardAt(t *testing.T, path string, want int) bool {
	t.Helper()
	return jumpIndex(t, path, "filter", "FORWARD", ChainForward) == want
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
	// As Docker sets FORWARD up: DOCKER-USER first, then its own.
	inNetns(t, path, "iptables", "-w", "-N", "DOCKER-USER")
	inNetns(t, path, "iptables", "-w", "-A", "FORWARD", "-j", "DOCKER-USER")
	inNetns(t, path, "iptables", "-w", "-A", "FORWARD", "-o", "docker0", "-j", "ACCEPT")
	f, writes := countingFirewall(t, path, "10.244.0.0/16")
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if !firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) || !forwardAt(t, path, 1) {
		t.Fatalf("jumps not in place:\n%s", inNetns(t, path, "iptables-save"))
	}
	nat := rulesOf(t, path, "nat", ChainPostrouting)
	if len(nat) != 1 || !strings.Contains(nat[0], "-s 10.244.0.0/16 -d 10.244.0.0/16 ! -o shoal0") || !strings.HasSuffix(nat[0], "-j ACCEPT") {
		t.Fatalf("%s = %q", ChainPostrouting, nat)
	}
	fwd := rulesOf(t, path, "filter", ChainForward)
	if len(fwd) != 2 || !strings.Contains(fwd[0], "-s 10.244.0.0/16 -i shoal0") || !strings.Contains(fwd[1], "-d 10.244.0.0/16 ! -i shoal0 -o shoal0") {
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

	// Docker inserts its rules first (as after a restart or a new network);
	// an administrator puts a DROP first in FORWARD: ours stays where it is
	// in FORWARD, goes first again in POSTROUTING.
	inNetns(t, path, "iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "1", "-s", "10.244.1.0/24", "!", "-o", "shoal0", "-j", "MASQUERADE")
	inNetns(t, path, "iptables", "-w", "-N", "DOCKER-ISOLATION-STAGE-1")
	inNetns(t, path, "iptables", "-w", "-I", "FORWARD", "1", "-j", "DOCKER-ISOLATION-STAGE-1")
	inNetns(t, path, "iptables", "-w", "-I", "FORWARD", "1", "-o", "shoal0", "-d", "10.244.3.0/24", "-j", "DROP")
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if !firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) || !forwardAt(t, path, 3) {
		t.Fatalf("jumps after others' inserts:\n%s", inNetns(t, path, "iptables-save"))
	}
	if post := rulesOf(t, path, "nat", "POSTROUTING"); len(post) != 2 || !strings.Contains(post[1], "MASQUERADE") {
		t.Fatalf("someone else's rule lost: %q", post)
	}
	if first := rulesOf(t, path, "filter", "FORWARD")[0]; !strings.Contains(first, "-j DROP") {
		t.Fatalf("the administrator's DROP is no longer first: %q", first)
	}

	// Moved above DOCKER-USER: back right below it. Deleted: back too.
	inNetns(t, path, "iptables", "-w", "-D", "FORWARD", "4")
	inNetns(t, path, "iptables", "-w", "-I", "FORWARD", "1", "-j", ChainForward)
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if !forwardAt(t, path, 3) {
		t.Fatalf("a jump above DOCKER-USER was not moved below it:\n%s", inNetns(t, path, "iptables-save"))
	}
	inNetns(t, path, "iptables", "-w", "-D", "FORWARD", "4")
	if err := f.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if !forwardAt(t, path, 3) {
		t.Fatalf("a deleted jump was not put back below DOCKER-USER:\n%s", inNetns(t, path, "iptables-save"))
	}

	// Another cluster CIDR: the chains are rewritten, the jumps stay single.
	g, _ := countingFirewall(t, path, "10.90.0.0/16")
	if err := g.EnsureRules(ctx); err != nil {
		t.Fatal(err)
	}
	if nat := rulesOf(t, path, "nat", ChainPostrouting); len(nat) != 1 || !strings.Contains(nat[0], "10.90.0.0/16") {
		t.Fatalf("after a CIDR change %s = %q", ChainPostrouting, nat)
	}
	if !firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) || !forwardAt(t, path, 3) {
		t.Fatalf("jumps after a CIDR change:\n%s", inNetns(t, path, "iptables-save"))
	}
}

// TestFirewallRunAfterEngineRestart: when the engine's event stream breaks
// and the engine answers again, the rules are put back at once, without
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
	poll.Cond(t, 10*time.Second, "the rules at start", func() bool { return firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) })

	eng.SetUnavailable(true) // dockerd stops: the stream breaks
	inNetns(t, path, "iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "1", "-m", "comment", "--comment", "as docker would", "-j", "ACCEPT")
	time.Sleep(300 * time.Millisecond)
	if firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting) {
		t.Fatal("rules changed while the engine was down")
	}
	eng.SetUnavailable(false) // and starts again, its rules first
	poll.Cond(t, 10*time.Second, "the rules first after the engine came back", func() bool {
		return firstIsJump(t, path, "nat", "POSTROUTING", ChainPostrouting)
	})
}
