package scheduler

import (
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// nodeInfo is a node with the pods bound to it and what they take.
type nodeInfo struct {
	node      *api.Node
	pods      []*api.Pod
	requested resources // effective requests of its pods
	nonzero   resources // the same with the scoring defaults
	ports     map[hostPort]struct{}
}

func newNodeInfo(n *api.Node, pods ...*api.Pod) *nodeInfo {
	ni := &nodeInfo{node: n, ports: map[hostPort]struct{}{}}
	for _, p := range pods {
		ni.addPod(p)
	}
	return ni
}

func (ni *nodeInfo) addPod(p *api.Pod) {
	req := computeRequest(p)
	ni.pods = append(ni.pods, p)
	ni.requested = ni.requested.add(req.res)
	ni.nonzero = ni.nonzero.add(req.nonzero)
	for _, hp := range req.ports {
		ni.ports[hp] = struct{}{}
	}
}

// allocatable is the node's allocatable amount of a resource, or its
// capacity when the node reports no allocatable amount.
func (ni *nodeInfo) allocatable(name string) (api.Quantity, bool) {
	if q, ok := ni.node.Status.Allocatable[name]; ok {
		return q, true
	}
	q, ok := ni.node.Status.Capacity[name]
	return q, ok
}

// cache is the scheduler's view of nodes and bound pods, fed by the
// watches, plus the pods this scheduler bound that the watch has not shown
// bound yet (assumed), as the Kubernetes scheduler cache keeps them: the
// next decision must count them.
type cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	nodes   map[string]*api.Node
	pods    map[string]*api.Pod // bound, not ended; by namespace/name
	assumed map[string]assumedPod
}

type assumedPod struct {
	pod      *api.Pod
	deadline time.Time
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, nodes: map[string]*api.Node{}, pods: map[string]*api.Pod{}, assumed: map[string]assumedPod{}}
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }

func (c *cache) setNode(n *api.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[n.Name] = n
}

func (c *cache) deleteNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, name)
}

// updatePod records a pod's state from the watch; it reports whether the pod
// stopped taking resources (it ended).
func (c *cache) updatePod(p *api.Pod) (freed bool) {
	key := podKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, had := c.pods[key]
	if p.Spec.NodeName == "" || api.IsPodTerminal(p) {
		delete(c.pods, key)
		if api.IsPodTerminal(p) {
			delete(c.assumed, key)
		}
		return had
	}
	c.pods[key] = p
	if a, ok := c.assumed[key]; ok && a.pod.UID == p.UID {
		delete(c.assumed, key) // the watch caught up
	}
	return false
}

func (c *cache) deletePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pods, key)
	delete(c.assumed, key)
}

// absent returns the cached nodes or pods (by k) that objs, a fresh list of
// that kind, no longer holds.
func (c *cache) absent(k *api.Kind, objs []api.Object) []api.Object {
	listed := make(map[string]bool, len(objs))
	for _, o := range objs {
		m := o.GetObjectMeta()
		listed[m.Namespace+"/"+m.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []api.Object
	switch k {
	case api.KindNode:
		for name, n := range c.nodes {
			if !listed["/"+name] {
				out = append(out, n)
			}
		}
	case api.KindPod:
		for key, p := range c.pods {
			if !listed[key] {
				out = append(out, p)
			}
		}
		// A pod bound and deleted while the watch was down was never seen
		// bound: it is only assumed, and must go too.
		for key, a := range c.assumed {
			if _, cached := c.pods[key]; !cached && !listed[key] {
				out = append(out, a.pod)
			}
		}
	}
	return out
}

// assume counts a pod this scheduler just bound.
func (c *cache) assume(p *api.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assumed[podKey(p)] = assumedPod{pod: p, deadline: c.now().Add(c.ttl)}
}

// snapshot returns every node with its pods, sorted by name. Assumed pods
// whose binding the watch never confirmed are dropped after the TTL.
func (c *cache) snapshot() []*nodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	byNode := map[string][]*api.Pod{}
	for key, p := range c.pods {
		if _, ok := c.assumed[key]; !ok {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	for key, a := range c.assumed {
		if now.After(a.deadline) {
			delete(c.assumed, key)
			if p, ok := c.pods[key]; ok {
				byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
			}
			continue
		}
		byNode[a.pod.Spec.NodeName] = append(byNode[a.pod.Spec.NodeName], a.pod)
	}
	out := make([]*nodeInfo, 0, len(c.nodes))
	for name, n := range c.nodes {
		out = append(out, newNodeInfo(n, byNode[name]...))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node.Name < out[j].node.Name })
	return out
}
