package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// The engine network pods join, and its Linux bridge device.
const (
	NetworkName  = "shoal"
	BridgeDevice = "shoal0"
)

// Docker bridge driver options of the pod network.
const (
	optMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	optICC        = "com.docker.network.bridge.enable_icc"
)

// Bridge names the engine network and its bridge device; tests use their
// own to keep clear of a running agent's.
type Bridge struct {
	Network string
	Device  string // at most 15 characters
}

// DefaultBridge is the pod network of an agent.
var DefaultBridge = Bridge{Network: NetworkName, Device: BridgeDevice}

// EnsureBridge makes the pod network (DefaultBridge) use subnet and returns
// its gateway, the bridge's address.
func EnsureBridge(ctx context.Context, eng engine.Engine, subnet *net.IPNet) (net.IP, error) {
	return DefaultBridge.Ensure(ctx, eng, subnet)
}

// Ensure makes the engine network b.Network a bridge on device b.Device with
// subnet, gateway at its first address, masquerading of traffic that leaves
// it (the firewall exempts pod-to-pod traffic) and traffic between its
// containers allowed. A network with another subnet is re-created if no
// container is attached to it; otherwise the error is ErrNetworkInUse.
func (b Bridge) Ensure(ctx context.Context, eng engine.Engine, subnet *net.IPNet) (net.IP, error) {
	p, ok := prefixOf(subnet)
	if !ok || !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("pod network subnet %v: %w", subnet, ErrInvalidCIDR)
	}
	p = p.Masked()
	gw := gatewayOf(p)
	spec := engine.NetworkSpec{Name: b.Network, Subnet: p.String(), Gateway: gw.String(), BridgeName: b.Device,
		Options: map[string]string{optMasquerade: "true", optICC: "true"}}
	if _, err := eng.EnsureNetwork(ctx, spec); err != nil {
		if errors.Is(err, engine.ErrInUse) {
			return nil, fmt.Errorf("%w (%w); this node's pod subnet is now %s: remove those containers "+
				"(docker rm -f; the agent starts their pods again on the new subnet)", ErrNetworkInUse, err, p)
		}
		return nil, fmt.Errorf("pod network %s: %w", b.Network, err)
	}
	return gw.AsSlice(), nil
}

// EngineRunsPods returns a ClaimConfig.RunsPods that reports whether the
// engine holds a pod container of node, running or not: a pod's sandbox,
// or the only container of a pod without one, has an address of the
// node's subnet, or gets one back when it starts again.
func EngineRunsPods(eng engine.Engine, node string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		list, err := eng.ListContainers(ctx, map[string]string{engine.LabelNode: node, engine.LabelPodUID: ""})
		if err != nil {
			return false, fmt.Errorf("list pod containers: %w", err)
		}
		return len(list) > 0, nil
	}
}
