package podnet

import "errors"

// Sentinel errors, tested with errors.Is.
var (
	// ErrInvalidCIDR: a cluster CIDR or claim that is not an IPv4 network
	// of at most /24.
	ErrInvalidCIDR = errors.New("network: invalid CIDR")
	// ErrNoSubnet: every /24 of the cluster CIDR is claimed.
	ErrNoSubnet = errors.New("network: no free pod subnet in the cluster CIDR")
	// ErrNetworkInUse: the engine network has another subnet and containers
	// are attached to it, so it cannot be re-created.
	ErrNetworkInUse = errors.New("network: pod network in use with another subnet")
	// ErrNodeNotRegistered: the node's Node object does not exist yet.
	ErrNodeNotRegistered = errors.New("network: node not registered")
	// ErrUnsupported: routes and firewall rules need Linux.
	ErrUnsupported = errors.New("network: not supported on this system")
)
