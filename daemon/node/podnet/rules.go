package podnet

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The chains this package owns. The service proxy's chains (SHOAL-SERVICES,
// SHOAL-NODEPORTS, ...) are never touched here.
const (
	// ChainPostrouting (nat) exempts pod-to-pod traffic between hosts from
	// Docker's masquerading, so that a pod sees the address of the pod that
	// called. Its rule ACCEPTs (ends the nat table's POSTROUTING, so no NAT)
	// rather than RETURNs: a RETURN would go back to POSTROUTING and on to
	// Docker's MASQUERADE after it. Traffic out of the bridge itself
	// (same host) is left to later rules, such as the service proxy's
	// hairpin masquerading; Docker does not masquerade it.
	ChainPostrouting = "SHOAL-POSTROUTING"
	// ChainForward (filter) accepts pod traffic on the pod bridge, which
	// Docker's FORWARD rules and DROP policy would otherwise drop. Its jump
	// sits below Docker's jump to DOCKER-USER, so that an administrator's
	// rules there (and any FORWARD rule above ours) decide first.
	ChainForward = "SHOAL-FORWARD"
	// ChainDockerUser is where Docker lets administrators filter forwarded
	// traffic ahead of its own rules; Docker keeps the jump to it first.
	ChainDockerUser = "DOCKER-USER"
)

// chainSpec is one chain of ours and the built-in chain that must jump to
// it first.
type chainSpec struct {
	table string
	hook  string
	chain string
	// rules are the chain's rules in `iptables -S` form without "-A chain".
	rules []string
	// jump is the hook's rule, in the same form.
	jump string
	// below is the chain whose jump in hook must come before ours; "" keeps
	// our jump first. A jump in its place is left where it is, however far
	// down an administrator moved it.
	below string
}

// chainsFor returns the chains for the cluster CIDR and the pod bridge
// device. Rules are written as `iptables -S` prints them, so that what is
// there compares as text.
func chainsFor(cluster, services netip.Prefix, bridge string) []chainSpec {
	c := cluster.String()
	var fromPods []string
	if services.IsValid() {
		// A Service without a ready backend is not translated: its packets
		// go back to FORWARD, to the service proxy's REJECT, so that a
		// connection is refused at once instead of leaving by the default
		// route and timing out (the order of the two jumps below
		// DOCKER-USER is not fixed).
		fromPods = append(fromPods, `-d `+services.String()+` -i `+bridge+` -m conntrack ! --ctstate DNAT`+
			` -m comment --comment "shoal: untranslated service traffic to the service proxy" -j RETURN`)
	}
	return []chainSpec{
		{table: "nat", hook: "POSTROUTING", chain: ChainPostrouting,
			// Packets the service proxy marked for masquerading (a pod
			// reaching a node port whose backend is on another host) must
			// still be masqueraded, or the reply takes another path back.
			rules: []string{`-s ` + c + ` -d ` + c + ` ! -o ` + bridge + ` -m mark ! --mark 0x4000/0x4000` +
				` -m comment --comment "shoal: pod to pod keeps its source address" -j ACCEPT`},
			jump: `-m comment --comment "shoal: pod network, keep first" -j ` + ChainPostrouting},
		{table: "filter", hook: "FORWARD", chain: ChainForward, below: ChainDockerUser,
			// Only traffic on the pod bridge: what pods send (to pods here,
			// to peers' pods through the uplink, out of the cluster), and
			// what comes to them from outside the bridge (peers' pods and
			// hosts over the host-gw routes, replies). Traffic to the
			// cluster CIDR through another interface is not ours to accept.
			rules: append(fromPods,
				`-s `+c+` -i `+bridge+` -m comment --comment "shoal: traffic from pods on this host" -j ACCEPT`,
				`-d `+c+` ! -i `+bridge+` -o `+bridge+` -m comment --comment "shoal: traffic to pods on this host" -j ACCEPT`,
			),
			jump: `-m comment --comment "shoal: pod network, below DOCKER-USER" -j ` + ChainForward},
	}
}

// restoreInput compares one table's `iptables -S` output with the chains
// wanted in it and returns the input for `iptables-restore --noflush` that
// makes it right, or "" when it is. One restore is one atomic commit: the
// jump is never missing, even for an instant. Declaring an existing chain
// flushes it, so its rules are rewritten whole. A jump that is missing,
// doubled or above s.below's is put right below s.below's jump (first when
// there is none); one in its place is left alone.
func restoreInput(table, listing string, specs []chainSpec) string {
	rules := map[string][]string{} // chain -> its rules, "-A chain" cut off
	exists := map[string]bool{}
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-N "):
			exists[strings.TrimPrefix(line, "-N ")] = true
		case strings.HasPrefix(line, "-P "):
			exists[strings.Fields(line)[1]] = true
		case strings.HasPrefix(line, "-A "):
			chain, rule, _ := strings.Cut(strings.TrimPrefix(line, "-A "), " ")
			rules[chain] = append(rules[chain], rule)
		}
	}
	var b strings.Builder
	for _, s := range specs {
		if s.table != table {
			continue
		}
		if !exists[s.chain] || !slices.Equal(rules[s.chain], s.rules) {
			fmt.Fprintf(&b, ":%s - [0:0]\n", s.chain)
			for _, r := range s.rules {
				fmt.Fprintf(&b, "-A %s %s\n", s.chain, r)
			}
		}
		var jumps []int
		for i, r := range rules[s.hook] {
			if target(r) == s.chain {
				jumps = append(jumps, i)
			}
		}
		after := -1 // index of the jump ours must follow
		if s.below != "" {
			after = slices.IndexFunc(rules[s.hook], func(r string) bool { return target(r) == s.below })
		}
		if len(jumps) == 1 && (s.below == "" && jumps[0] == 0 || s.below != "" && jumps[0] > after) {
			continue
		}
		for _, i := range jumps {
			fmt.Fprintf(&b, "-D %s %s\n", s.hook, rules[s.hook][i])
			if i < after {
				after--
			}
		}
		// -I takes a 1-based position: after+2 is right below the jump at
		// index after, and 1 when there is none.
		fmt.Fprintf(&b, "-I %s %d %s\n", s.hook, after+2, s.jump)
	}
	if b.Len() == 0 {
		return ""
	}
	return "*" + table + "\n" + b.String() + "COMMIT\n"
}

// target returns the chain or target a rule jumps to: its last -j or -g,
// as matches (and comments) come before the target.
func target(rule string) string {
	f := strings.Fields(rule)
	for i := len(f) - 2; i >= 0; i-- {
		if f[i] == "-j" || f[i] == "-g" || f[i] == "--jump" || f[i] == "--goto" {
			return f[i+1]
		}
	}
	return ""
}
