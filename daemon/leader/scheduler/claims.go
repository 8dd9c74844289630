package scheduler

import (
	"fmt"
	"sort"

	"github.com/shoal-dev/shoal/api"
)

// reasonClaimNode: the node is not the one a claim of the pod is bound to,
// in the words of Kubernetes' VolumeBinding filter.
const reasonClaimNode = "node(s) had volume node affinity conflict"

// claimAssumption is the node this scheduler placed the first pod of a
// claim on, before the claim's binding shows in the watch, so that the
// next pods of the claim go there too.
type claimAssumption struct {
	node string
	pod  string // the key of the pod whose placement made it
}

// setClaim records a claim from the watch. Once it shows its node, an
// assumption about it is no longer needed.
func (c *cache) setClaim(pvc *api.PersistentVolumeClaim) {
	key := pvc.Namespace + "/" + pvc.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claims[key] = pvc.SelectedNode()
	if pvc.SelectedNode() != "" {
		delete(c.claimAssumed, key)
	}
	if why, ok := pvc.Annotations[api.AnnotationWaitsForVolume]; ok {
		c.claimWaits[key] = why
	} else {
		delete(c.claimWaits, key)
	}
	if pvc.BoundVolume() != "" && pvc.SelectedNode() == "" {
		c.claimVolume[key] = true
	} else {
		delete(c.claimVolume, key)
	}
}

func (c *cache) deleteClaim(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.claims, key)
	delete(c.claimAssumed, key)
	delete(c.claimWaits, key)
	delete(c.claimVolume, key)
}

// claimNodeLocked returns the node the pod's claims pin it to ("" if
// none), or why it cannot be placed now: a claim bound to a node that is
// not ready or not in the cluster, or two claims bound to two nodes.
// Claims without an object pin nothing (a volume on whichever node).
func (c *cache) claimNodeLocked(p *api.Pod) (pinned, why string) {
	var by string
	for _, name := range api.PodClaims(&p.Spec) {
		key := p.Namespace + "/" + name
		node, ok := c.claims[key]
		if !ok || c.claimVolume[key] {
			continue
		}
		if why, waits := c.claimWaits[key]; waits {
			return "", fmt.Sprintf("persistentvolumeclaim %q is not bound yet: %s", name, why)
		}
		if node == "" {
			node = c.claimAssumed[key].node
		}
		switch {
		case node == "":
			continue
		case pinned == "":
			pinned, by = node, name
		case pinned != node:
			return "", fmt.Sprintf("persistentvolumeclaims %q and %q are bound to different nodes (%s, %s): no node can run the pod", by, name, pinned, node)
		}
	}
	if pinned == "" {
		return "", ""
	}
	ni := c.nodes[pinned]
	switch {
	case ni == nil || ni.node == nil:
		return "", fmt.Sprintf("persistentvolumeclaim %q is bound to node %s, which is not in the cluster", by, pinned)
	case len(nodeReady(p, nil, ni)) > 0:
		return "", fmt.Sprintf("persistentvolumeclaim %q is bound to node %s, which is not ready", by, pinned)
	}
	return pinned, ""
}

// assumeClaimsLocked binds, in the cache, the pod's unbound claims to the
// node it was placed on.
func (c *cache) assumeClaimsLocked(p *api.Pod, node string) {
	for _, name := range api.PodClaims(&p.Spec) {
		key := p.Namespace + "/" + name
		if at, ok := c.claims[key]; ok && at == "" && !c.claimVolume[key] && c.claimAssumed[key].node == "" {
			c.claimAssumed[key] = claimAssumption{node: node, pod: podKey(p)}
		}
	}
}

// unassumeClaimsLocked drops the claim assumptions the placement of p
// made, whose binding failed.
func (c *cache) unassumeClaimsLocked(p *api.Pod) {
	for _, name := range api.PodClaims(&p.Spec) {
		key := p.Namespace + "/" + name
		if a, ok := c.claimAssumed[key]; ok && a.pod == podKey(p) && a.node == p.Spec.NodeName {
			delete(c.claimAssumed, key)
		}
	}
}

// claimKeys lists the cached claims, sorted, for relist.
func (c *cache) claimKeysLocked() []string {
	out := make([]string, 0, len(c.claims))
	for k := range c.claims {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
