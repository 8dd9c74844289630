package proxy

import (
	"slices"
	"strconv"
	"strings"
)

// staleUDPFlows returns the conntrack deletions that the change from old to
// cur calls for. UDP has no connection to break: without them, a client
// that keeps sending keeps its conntrack entry, and so its old destination,
// for as long as it sends. Two cases, as in kube-proxy:
//   - an endpoint left a UDP service port: flows DNATed to it;
//   - a UDP service port got its first endpoint: flows to it that were
//     rejected meanwhile have entries without NAT, which would keep missing
//     the new endpoint.
//
// TCP needs nothing: its clients see the connection fail and reconnect.
func staleUDPFlows(old, cur []servicePort) [][]string {
	before := map[string]*servicePort{}
	for i := range old {
		if old[i].proto == "udp" {
			before[old[i].name] = &old[i]
		}
	}
	seen := map[string]bool{}
	var out [][]string
	add := func(args ...string) {
		key := strings.Join(args, " ")
		if !seen[key] {
			seen[key] = true
			out = append(out, append([]string{"-D", "-p", "udp"}, args...))
		}
	}
	after := map[string]*servicePort{}
	for i := range cur {
		sp := &cur[i]
		if sp.proto != "udp" {
			continue
		}
		after[sp.name] = sp
		if o, ok := before[sp.name]; ok && len(o.endpoints) == 0 && len(sp.endpoints) > 0 {
			if sp.clusterIP.IsValid() {
				add("--orig-dst", sp.clusterIP.String(), "--orig-port-dst", strconv.Itoa(int(sp.port)))
			}
			if sp.nodePort != 0 {
				add("--orig-port-dst", strconv.Itoa(int(sp.nodePort)))
			}
		}
	}
	for _, o := range before {
		var keep []endpoint
		if sp, ok := after[o.name]; ok {
			keep = sp.endpoints
		}
		for _, ep := range o.endpoints {
			if slices.Contains(keep, ep) {
				continue
			}
			if o.clusterIP.IsValid() {
				add("--orig-dst", o.clusterIP.String(), "--dst-nat", ep.ip.String())
			}
			if o.nodePort != 0 {
				add("--orig-port-dst", strconv.Itoa(int(o.nodePort)), "--dst-nat", ep.ip.String())
			}
		}
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(strings.Join(a, " "), strings.Join(b, " ")) })
	return out
}
