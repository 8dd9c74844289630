// Package proxy is the service proxy of one node: it load-balances traffic to
// Services in the kernel with iptables NAT rules, in the spirit of
// kube-proxy's iptables mode.
//
// Rules turns the Services and Endpoints into an iptables-restore input that
// touches only the proxier's own chains:
//
//	nat     PREROUTING, OUTPUT -> SHOAL-SERVICES
//	          -d VIP -p P --dport PORT -> SHOAL-SVC-<hash>  (one per service port)
//	          local destination        -> SHOAL-NODEPORTS  (last)
//	        SHOAL-NODEPORTS: --dport NODEPORT -> SHOAL-MARK-MASQ, SHOAL-SVC-<hash>
//	        SHOAL-SVC-<hash>: traffic from outside the cluster CIDR -> SHOAL-MARK-MASQ;
//	          ClientIP affinity (-m recent --rcheck); a random split with
//	          probabilities 1/n, 1/(n-1), ... -> SHOAL-SEP-<hash> (one per endpoint)
//	        SHOAL-SEP-<hash>: hairpin (source is the endpoint) -> SHOAL-MARK-MASQ;
//	          DNAT to ip:port (and -m recent --set for affinity)
//	        POSTROUTING -> SHOAL-MASQUERADE: masquerade packets carrying the mark
//	filter  INPUT, FORWARD, OUTPUT (new connections) -> SHOAL-SERVICES:
//	          REJECT for service ports without ready endpoints, so clients fail
//	          at once instead of hanging
//	        FORWARD -> SHOAL-PROXY-FORWARD: accept marked service traffic and its replies
//	        (FORWARD's jumps go right below Docker's jump to DOCKER-USER, the
//	        other jumps first)
//
// A Proxier keeps a node's kernel in step with the cluster: it lists and
// watches Services and Endpoints, regenerates the rules at once after a quiet
// spell and otherwise MinSyncInterval after the previous sync ended (so that
// changes arriving during slow syncs gather into one), and applies each table that changed with one atomic
// iptables-restore --noflush. The first sync (and one every ResyncInterval,
// and the one after a failure) rewrites every chain of the proxier; the others
// rewrite only the chains whose rules changed, since restoring 11,000 rules
// takes most of a second and one service's chains a few milliseconds. It
// also installs the jumps from the built-in chains, deletes the chains it no
// longer needs, flushes conntrack entries of UDP flows whose endpoint went
// away, and removes everything with Cleanup.
//
// The proxier owns only the chains above (OwnsChain); pod networking's
// SHOAL-POSTROUTING and SHOAL-FORWARD are not its own and never touched.
// Its rule that exempts pod-to-pod traffic from NAT must spare packets with
// the masquerade mark (a pod reaching a node port whose endpoint is a pod on
// another host), or their replies would not come back through this node.
package proxy
