package proxy

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/shoal-dev/shoal/api"
)

// DefaultMasqueradeMark is the packet mark of traffic to masquerade; the same
// bit as kube-proxy's, which Docker leaves alone.
const DefaultMasqueradeMark = 0x4000

// affinitySeconds is how long a client sticks to its endpoint under
// sessionAffinity ClientIP (Kubernetes' default).
const affinitySeconds = "10800"

// RulesConfig is what the rules need to know of the node and the cluster.
type RulesConfig struct {
	// ClusterCIDR is the pod network. Traffic to a service from outside it
	// is masqueraded, so that replies come back through this node; traffic
	// between pods keeps its source. Invalid (zero): nothing is masqueraded
	// for that reason.
	ClusterCIDR netip.Prefix
	// NodeIPs are the addresses that take NodePorts; empty: every local
	// address but loopback.
	NodeIPs []netip.Addr
	// MasqueradeMark is the mark bit for masquerading; 0: DefaultMasqueradeMark.
	MasqueradeMark uint32
}

func (c RulesConfig) mark() string {
	m := c.MasqueradeMark
	if m == 0 {
		m = DefaultMasqueradeMark
	}
	return fmt.Sprintf("%#x", m)
}

// ruleSet is the generated state: one table per iptables table, and the
// service ports it came from.
type ruleSet struct {
	filter, nat *table
	ports       []servicePort
}

func (rs *ruleSet) tables() []*table { return []*table{rs.filter, rs.nat} }

// Rules returns the iptables-restore --noflush input (filter table, then nat)
// that makes the kernel balance the given services over their ready
// endpoints. It touches only the proxier's chains, which it declares (so
// flushes) and rewrites whole; jumps from the built-in chains and the
// deletion of stale chains are the Proxier's. The output depends only on the state: the
// same services and endpoints, in any order, give the same bytes.
func Rules(services []*api.Service, endpoints []*api.Endpoints, cfg RulesConfig) []byte {
	rs := build(servicePorts(services, endpoints), cfg)
	return append(rs.filter.render(), rs.nat.render()...)
}

// build writes the rules of the service ports.
func build(sps []servicePort, cfg RulesConfig) *ruleSet {
	rs := &ruleSet{filter: newTable(TableFilter), nat: newTable(TableNAT), ports: sps}
	f, n := rs.filter, rs.nat
	mark := cfg.mark()
	markMask := mark + "/" + mark

	f.chain(chainServices)
	f.chain(chainForward)
	// Service traffic forwarded to a backend on another host (a node port)
	// and the replies of service flows; Docker's FORWARD policy drops them.
	f.rule(chainForward, "-m", "comment", "--comment", comment("shoal service traffic requiring SNAT"),
		"-m", "mark", "--mark", markMask, "-j", "ACCEPT")
	f.rule(chainForward, "-m", "comment", "--comment", comment("shoal service replies"),
		"-m", "conntrack", "--ctstate", "DNAT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")

	n.chain(chainServices)
	n.chain(chainNodePorts)
	n.chain(chainMasq)
	n.chain(chainMarkMasq)
	n.rule(chainMasq, "-m", "comment", "--comment", comment("shoal service traffic requiring SNAT"),
		"-m", "mark", "--mark", markMask, "-j", "MASQUERADE")
	n.rule(chainMarkMasq, "-j", "MARK", "--or-mark", mark)

	nodeDests := nodePortDestinations(cfg.NodeIPs)
	for i := range sps {
		sp := &sps[i]
		port, nodePort := strconv.Itoa(int(sp.port)), strconv.Itoa(int(sp.nodePort))
		proto := []string{"-p", sp.proto, "-m", sp.proto}
		if len(sp.endpoints) == 0 {
			reject := []string{"-j", "REJECT", "--reject-with", "icmp-port-unreachable"}
			c := comment(sp.name + " has no endpoints")
			if sp.clusterIP.IsValid() {
				f.rule(chainServices, cat([]string{"-m", "comment", "--comment", c,
					"-d", sp.clusterIP.String() + "/32"}, proto, []string{"--dport", port}, reject)...)
			}
			for _, ip := range sp.lbIPs {
				f.rule(chainServices, cat([]string{"-m", "comment", "--comment", c,
					"-d", ip.String() + "/32"}, proto, []string{"--dport", port}, reject)...)
			}
			if sp.nodePort != 0 {
				for _, d := range nodeDests {
					f.rule(chainServices, cat([]string{"-m", "comment", "--comment", c}, d, proto,
						[]string{"--dport", nodePort}, reject)...)
				}
			}
			continue
		}
		svc := svcChain(sp)
		c := comment(sp.name)
		n.chain(svc)
		if sp.clusterIP.IsValid() {
			n.rule(chainServices, cat([]string{"-m", "comment", "--comment", comment(sp.name + " cluster IP"),
				"-d", sp.clusterIP.String() + "/32"}, proto, []string{"--dport", port, "-j", svc})...)
		}
		for _, ip := range sp.lbIPs {
			lb := cat([]string{"-m", "comment", "--comment", comment(sp.name + " loadbalancer IP"),
				"-d", ip.String() + "/32"}, proto, []string{"--dport", port})
			n.rule(chainServices, cat(lb, []string{"-j", chainMarkMasq})...)
			n.rule(chainServices, cat(lb, []string{"-j", svc})...)
		}
		if sp.nodePort != 0 {
			np := cat([]string{"-m", "comment", "--comment", c}, proto, []string{"--dport", nodePort})
			n.rule(chainNodePorts, cat(np, []string{"-j", chainMarkMasq})...)
			n.rule(chainNodePorts, cat(np, []string{"-j", svc})...)
		}
		if cfg.ClusterCIDR.IsValid() {
			n.rule(svc, "-m", "comment", "--comment", c, "!", "-s", cfg.ClusterCIDR.Masked().String(), "-j", chainMarkMasq)
		}
		if sp.affinity {
			for _, ep := range sp.endpoints {
				sep := sepChain(sp, ep)
				n.rule(svc, "-m", "comment", "--comment", c, "-m", "recent", "--name", sep,
					"--mask", "255.255.255.255", "--rsource", "--rcheck", "--seconds", affinitySeconds, "--reap", "-j", sep)
			}
		}
		for j, ep := range sp.endpoints {
			sep := sepChain(sp, ep)
			args := []string{"-m", "comment", "--comment", comment(sp.name + " -> " + ep.String())}
			if left := len(sp.endpoints) - j; left > 1 {
				args = append(args, "-m", "statistic", "--mode", "random", "--probability", probability(left))
			}
			n.rule(svc, append(args, "-j", sep)...)
		}
		for _, ep := range sp.endpoints {
			sep := sepChain(sp, ep)
			n.chain(sep)
			// Hairpin: a pod reaching itself through the service must see
			// the node as the source, or its reply would not be un-NATed.
			n.rule(sep, "-m", "comment", "--comment", c, "-s", ep.ip.String()+"/32", "-j", chainMarkMasq)
			args := []string{"-m", "comment", "--comment", c}
			if sp.affinity {
				args = append(args, "-m", "recent", "--name", sep, "--mask", "255.255.255.255", "--rsource", "--set")
			}
			n.rule(sep, cat(args, proto, []string{"-j", "DNAT", "--to-destination", ep.String()})...)
		}
	}
	// Node ports last: a cluster IP that is also a local address (none
	// should be) keeps its service.
	for _, d := range nodeDests {
		n.rule(chainServices, cat([]string{"-m", "comment", "--comment", comment("shoal service nodeports; must be last")},
			d, []string{"-j", chainNodePorts})...)
	}
	return rs
}

// nodePortDestinations are the destination matches of node-port traffic:
// the given addresses, or every local address but loopback (DNAT of
// 127.0.0.1 to another host would need route_localnet).
func nodePortDestinations(ips []netip.Addr) [][]string {
	var out [][]string
	for _, ip := range ips {
		if ip.Is4() {
			out = append(out, []string{"-d", ip.String() + "/32"})
		}
	}
	if len(ips) == 0 {
		out = append(out, []string{"-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8"})
	}
	return out
}

// probability is the chance of taking the first of the n endpoints left, with
// the precision kube-proxy writes; the last endpoint takes what remains.
func probability(n int) string {
	return strconv.FormatFloat(1/float64(n), 'f', 10, 64)
}

func cat(parts ...[]string) []string {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	out := make([]string, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
