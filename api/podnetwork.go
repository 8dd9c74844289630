package api

// Annotations a node's agent writes on its own Node for its pod network
// (docs/networking.md, Backends): what its peers need to reach its pods, and
// what it uses to reach theirs.
const (
	// AnnotationPodNetworkBackend is the backend the node's agent was
	// started with: host-gw, vxlan, wireguard or auto. A Node without it is of an
	// agent that knows host-gw only.
	AnnotationPodNetworkBackend = "network.shoal.io/backend"
	// AnnotationVXLANMAC is the MAC address of the node's VXLAN device
	// (its VTEP), present while the node can take VXLAN traffic.
	AnnotationVXLANMAC = "network.shoal.io/vxlan-mac"
	// AnnotationBackendsInUse lists, comma-separated and sorted, the
	// backends the node uses to reach its peers' pods now, such as
	// "host-gw,vxlan".
	AnnotationBackendsInUse = "network.shoal.io/backends-in-use"
)
