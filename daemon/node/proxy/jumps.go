package proxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// jump is a rule in a built-in chain that sends traffic to one of shoal's.
type jump struct {
	table, chain string
	rule         []string
}

// jumps are inserted at the head of the built-in chains, ahead of Docker's
// rules: the masquerade chain acts only on packets the proxier marked, and
// the filter chains only on service traffic. Only new connections reach the
// REJECT rules. Pod networking puts its own nat jump first as well; which of
// the two comes first does not matter as long as its "no NAT between pods"
// rule spares marked packets. In filter FORWARD they go right below
// Docker's jump to DOCKER-USER instead, so that an administrator's rules
// there decide first, as Docker's own rules let them.
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
		pos := 1
		if j.table == TableFilter && j.chain == "FORWARD" {
			if pos, err = belowDockerUser(ctx, k); err != nil {
				return added, err
			}
		}
		if err := k.Iptables(ctx, cat([]string{"-t", j.table, "-I", j.chain, strconv.Itoa(pos)}, j.rule)...); err != nil {
			return added, fmt.Errorf("proxy: insert jump from %s/%s: %w", j.table, j.chain, err)
		}
		added++
	}
	return added, nil
}

// belowDockerUser returns the position (from 1) right below FORWARD's jump
// to DOCKER-USER, 1 when there is none.
func belowDockerUser(ctx context.Context, k Kernel) (int, error) {
	out, err := k.Save(ctx, TableFilter)
	if err != nil {
		return 0, fmt.Errorf("proxy: list the filter table: %w", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A FORWARD ") {
			continue
		}
		n++
		if f := strings.Fields(line); len(f) >= 2 && f[len(f)-2] == "-j" && f[len(f)-1] == "DOCKER-USER" {
			return n + 1, nil
		}
	}
	return 1, nil
}
