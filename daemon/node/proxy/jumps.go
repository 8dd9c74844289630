package proxy

import (
	"context"
	"fmt"
)

// jump is a rule in a built-in chain that sends traffic to one of shoal's.
type jump struct {
	table, chain string
	rule         []string
}

// jumps are inserted at the head of the built-in chains, ahead of Docker's
// rules: the masquerade chain acts only on packets the proxier marked, and
// the filter chains only on service traffic. Only new connections reach the
// REJECT rules. Pod networking puts its own jumps first as well; which of
// the two comes first does not matter as long as its "no NAT between pods"
// rule spares marked packets.
var jumps = []jump{
	{TableNAT, "PREROUTING", []string{"-m", "comment", "--comment", "shoal service portals", "-j", chainServices}},
	{TableNAT, "OUTPUT", []string{"-m", "comment", "--comment", "shoal service portals", "-j", chainServices}},
	{TableNAT, "POSTROUTING", []string{"-m", "comment", "--comment", "shoal service masquerading", "-j", chainMasq}},
	{TableFilter, "INPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "shoal service portals", "-j", chainServices}},
	{TableFilter, "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "shoal service portals", "-j", chainServices}},
	{TableFilter, "OUTPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "shoal service portals", "-j", chainServices}},
	{TableFilter, "FORWARD", []string{"-m", "comment", "--comment", "shoal service forwarding", "-j", chainForward}},
}

// ensureJumps inserts the jumps that are missing; the chains they point at
// must exist. It reports how many it inserted.
func ensureJumps(ctx context.Context, k Kernel) (int, error) {
	var added int
	for _, j := range jumps {
		err := k.Iptables(ctx, cat([]string{"-t", j.table, "-C", j.chain}, j.rule)...)
		if err == nil {
			continue
		}
		// Exit status 1 is "no such rule"; anything else is a real failure.
		if exitCode(err) != 1 {
			return added, fmt.Errorf("proxy: check jump from %s/%s: %w", j.table, j.chain, err)
		}
		if err := k.Iptables(ctx, cat([]string{"-t", j.table, "-I", j.chain, "1"}, j.rule)...); err != nil {
			return added, fmt.Errorf("proxy: insert jump from %s/%s: %w", j.table, j.chain, err)
		}
		added++
	}
	return added, nil
}
