package podnet

import (
	"fmt"
	"net/netip"
)

// outcome is what a node's claim should be.
type outcome struct {
	subnet netip.Prefix
	// moved: there was a claim and it is given up for subnet.
	moved bool
	// keptFrom: lower-named nodes that claim subnet too; it is kept only
	// because this node runs pods.
	keptFrom []string
	// contested: higher-named nodes that claim subnet too; they must move.
	contested []string
}

// resolve applies the claiming rule (package doc): keep current unless a
// lower-named node claims an overlapping subnet and this node runs no pods;
// claim the lowest free /24 when there is no current claim, and a free one
// searched from a point of its own (spreadFree) when it gives one up.
// runsPods is asked only when it matters.
func resolve(self string, cluster netip.Prefix, current netip.Prefix, others []nodeClaim, runsPods func() (bool, error)) (outcome, error) {
	if !current.IsValid() {
		free, err := lowestFree(cluster, others)
		return outcome{subnet: free}, err
	}
	var lower, higher []string
	for _, c := range others {
		if !c.subnet.Overlaps(current) {
			continue
		}
		if c.node < self {
			lower = append(lower, c.node)
		} else {
			higher = append(higher, c.node)
		}
	}
	out := outcome{subnet: current, contested: higher}
	if len(lower) == 0 {
		return out, nil
	}
	busy, err := runsPods()
	if err != nil {
		return outcome{}, fmt.Errorf("checking for pods before giving up %s: %w", current, err)
	}
	if busy {
		out.keptFrom = lower
		return out, nil
	}
	free, err := spreadFree(cluster, others, self)
	if err != nil {
		return outcome{}, err
	}
	return outcome{subnet: free, moved: true}, nil
}
