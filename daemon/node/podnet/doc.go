// Package podnet gives each node its share of the pod network and connects
// the shares (design section 6):
//
//   - Claimer claims a /24 of the cluster CIDR for the node, publishes it in
//     the Node's spec.podCIDR and keeps it in <data-dir>/pod-cidr, and
//     resolves conflicts (see below).
//   - EnsurePodBridge makes the Linux bridge shoal0 with the /24's gateway
//     address; BridgeWiring connects each sandbox (network mode "none") to
//     it with a veth pair and an address from IPAM, which keeps every
//     pod's address in <data-dir>/pod-ips.json; HostPorts publishes
//     hostPorts by DNAT. EnsureBridge is the engine network "shoal" of
//     older agents, removed once no sandbox is on it.
//   - Router keeps one route per other node, over the backend chosen for
//     the pair (chooseBackend, see Backends below).
//   - Firewall keeps the iptables rules that let pod traffic cross hosts
//     without NAT (first in nat POSTROUTING, ahead of Docker's masquerading)
//     and through the pod bridge (in filter FORWARD, below Docker's jump to
//     DOCKER-USER, so that an administrator's rules decide first).
//
// # Claiming a subnet
//
// A node claims its /24 once, at its first start, after its agent has caught
// up with the cluster: the lowest /24 of the cluster CIDR that no Node it
// knows claims. The claim is stable: later starts reuse the one in
// <data-dir>/pod-cidr or, if that file is lost, the one in the Node's spec.
//
// Two nodes that started at the same time, or apart (partitioned), can claim
// the same /24. The rule that settles it is the same on every node: the node
// whose name sorts lowest keeps the subnet; every other node claiming it
// takes a free /24 instead (searched from a point derived from its name, so
// that many nodes moving at once do not all take the same next one), but
// only while it runs no pods, since
// moving re-creates the bridge and would cut its pods off. A node that runs
// pods keeps the conflicting subnet, logs an error naming both nodes, and
// reports it as a Warning event and the Node condition PodCIDRConflict. To
// fix it, move the pods off that node (cordon it and delete its pods, or
// stop them); its agent then claims a free subnet by itself within 30 s.
//
// # Backends
//
// A peer's pods are reached by host-gw (a route to its /24 via its
// address, for hosts on one segment), by VXLAN (the kernel's vxlan
// device shoal.vx: a route to its /24 via its VTEP address onlink, a
// neighbour entry to its VTEP MAC, a forwarding entry to its address) or
// by WireGuard (the userspace device shoal.wg of package
// tunnel/wireguard: a route to its /24 over the device, which the Router
// owns, and the peer configured with its verified signed key).
// --pod-network-backend says which (auto: host-gw to peers on a directly
// connected subnet; to the others WireGuard when both publish a verified
// key, else VXLAN; the WireGuard device runs only while some peer is
// reached through it or reaches this node through it). Each node publishes
// what its peers need (its mode, VTEP MAC and signed WireGuard key) and
// what it uses on its own Node as annotations, and checks what its peers
// publish before use. Each tunnel backend implements the tunnel interface:
// a route over its own device and per-peer state synced from the peers it
// carries.
package podnet
