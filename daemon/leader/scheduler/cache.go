package scheduler

import (
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// nodeInfo is a node with the pods counted on it and what they take, kept
// up to date as pods come and go, so that a decision reads sums instead of
// walking every pod.
type nodeInfo struct {
	node      *api.Node // nil while pods name a node the cache does not know
	pods      map[string]*api.Pod
	requested resources           // effective requests of its pods
	nonzero   resources           // the same with the scoring defaults
	ports     map[hostPort]int    // host ports taken, and by how many pods
	owners    map[string]int      // pods not being deleted, per controller uid
	bykey     map[string]string   // the controller uid counted for each pod, to undo it
	affine    map[string]podTerms // the resolved terms of pods with pod affinity or anti-affinity, which may name others
}

func newNodeInfo(n *api.Node, pods ...*api.Pod) *nodeInfo {
	ni := &nodeInfo{node: n, pods: map[string]*api.Pod{}, ports: map[hostPort]int{},
		owners: map[string]int{}, bykey: map[string]string{}, affine: map[string]podTerms{}}
	for _, p := range pods {
		ni.addPod(p)
	}
	return ni
}

func (ni *nodeInfo) addPod(p *api.Pod) {
	key := podKey(p)
	if _, ok := ni.pods[key]; ok {
		ni.removePod(key)
	}
	req := computeRequest(p)
	ni.pods[key] = p
	ni.requested = ni.requested.add(req.res)
	ni.nonzero = ni.nonzero.add(req.nonzero)
	for _, hp := range req.ports {
		ni.ports[hp]++
	}
	if ref := p.ControllerRef(); ref != nil && p.DeletionTimestamp == nil {
		ni.owners[ref.UID]++
		ni.bykey[key] = ref.UID
	}
	if api.HasPodAffinity(&p.Spec) {
		ni.affine[key] = termsOf(p) // resolved once, read by every decision
	}
}

func (ni *nodeInfo) removePod(key string) {
	p, ok := ni.pods[key]
	if !ok {
		return
	}
	delete(ni.pods, key)
	delete(ni.affine, key)
	req := computeRequest(p)
	ni.requested = ni.requested.sub(req.res)
	ni.nonzero = ni.nonzero.sub(req.nonzero)
	for _, hp := range req.ports {
		if ni.ports[hp]--; ni.ports[hp] <= 0 {
			delete(ni.ports, hp)
		}
	}
	if uid, ok := ni.bykey[key]; ok {
		delete(ni.bykey, key)
		if ni.owners[uid]--; ni.owners[uid] <= 0 {
			delete(ni.owners, uid)
		}
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
// watches, plus the pods this scheduler placed that the watch has not shown
// bound yet (assumed), as the Kubernetes scheduler cache keeps them: the
// next decision must count them. An assumption whose binding is still
// being written never expires; once written, it lasts the TTL, in case the
// watch never shows it.
type cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	nodes   map[string]*nodeInfo
	pods    map[string]*api.Pod // bound, not ended, as the watch shows them; by namespace/name
	assumed map[string]assumedPod
	counted map[string]*api.Pod // the pod of each key counted on its node: assumed, else bound
	known   []*nodeInfo         // the infos of known nodes; nil after a node came or went
	expired time.Time           // the last look for expired assumptions

	namespaces   namespaceLabels            // the labels of each namespace, for namespaceSelectors
	claims       map[string]string          // PersistentVolumeClaims by namespace/name: their node, "" while unbound
	claimAssumed map[string]claimAssumption // unbound claims this scheduler placed a first pod of
	claimWaits   map[string]string          // claims waiting for a declared volume: why
	claimVolume  map[string]bool            // claims bound to a declared volume any node reaches
}

type assumedPod struct {
	pod      *api.Pod
	deadline time.Time // zero while the binding is being written
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, nodes: map[string]*nodeInfo{}, pods: map[string]*api.Pod{},
		assumed: map[string]assumedPod{}, counted: map[string]*api.Pod{},
		namespaces: namespaceLabels{}, claims: map[string]string{}, claimAssumed: map[string]claimAssumption{},
		claimWaits: map[string]string{}, claimVolume: map[string]bool{}}
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }

// infoLocked returns the info of a node, made if missing.
func (c *cache) infoLocked(name string) *nodeInfo {
	ni := c.nodes[name]
	if ni == nil {
		ni = newNodeInfo(nil)
		c.nodes[name] = ni
	}
	return ni
}

// recountLocked moves the key's pod to where it counts now: its assumed
// version, else its bound one, else nowhere.
func (c *cache) recountLocked(key string) {
	want := c.pods[key]
	if a, ok := c.assumed[key]; ok {
		want = a.pod
	}
	old := c.counted[key]
	if old == want {
		return
	}
	if old != nil {
		ni := c.nodes[old.Spec.NodeName]
		ni.removePod(key)
		if ni.node == nil && len(ni.pods) == 0 {
			delete(c.nodes, old.Spec.NodeName)
		}
		delete(c.counted, key)
	}
	if want != nil {
		c.infoLocked(want.Spec.NodeName).addPod(want)
		c.counted[key] = want
	}
}

func (c *cache) setNode(n *api.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.infoLocked(n.Name)
	if ni.node == nil {
		c.known = nil
	}
	ni.node = n
}

func (c *cache) deleteNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodes[name]
	if ni == nil || ni.node == nil {
		return
	}
	ni.node, c.known = nil, nil
	if len(ni.pods) == 0 {
		delete(c.nodes, name)
	}
}

// updatePod records a pod's state from the watch; it reports whether the pod
// stopped taking resources (it ended).
func (c *cache) updatePod(p *api.Pod) (freed bool) {
	key := podKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.recountLocked(key)
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
	c.recountLocked(key)
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
		for name, ni := range c.nodes {
			if ni.node != nil && !listed["/"+name] {
				out = append(out, ni.node)
			}
		}
	case api.KindNamespace:
		for name := range c.namespaces {
			if !listed["/"+name] {
				out = append(out, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}})
			}
		}
	case api.KindClaim:
		for _, key := range c.claimKeysLocked() {
			if !listed[key] {
				ns, name := splitKey(key)
				out = append(out, &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name}})
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

// assume counts a pod this scheduler bound, for the TTL.
func (c *cache) assume(p *api.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assumed[podKey(p)] = assumedPod{pod: p, deadline: c.now().Add(c.ttl)}
	c.recountLocked(podKey(p))
}

// bound starts the TTL of an assumption whose binding was written (unless
// the watch showed it already).
func (c *cache) bound(p *api.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := podKey(p)
	if a, ok := c.assumed[key]; ok && a.pod == p {
		a.deadline = c.now().Add(c.ttl)
		c.assumed[key] = a
	}
}

// unassume drops the assumption of p, whose binding failed or was not
// needed.
func (c *cache) unassume(p *api.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := podKey(p)
	if a, ok := c.assumed[key]; ok && a.pod == p {
		delete(c.assumed, key)
		c.recountLocked(key)
	}
	c.unassumeClaimsLocked(p)
}

// expireLocked drops the assumptions whose binding was written over a TTL
// ago and that the watch never confirmed. It looks at most once a second:
// thousands of assumptions may wait for the watch during a rollout.
func (c *cache) expireLocked() {
	now := c.now()
	if now.Sub(c.expired) < time.Second && !now.Before(c.expired) {
		return
	}
	c.expired = now
	for key, a := range c.assumed {
		if !a.deadline.IsZero() && now.After(a.deadline) {
			delete(c.assumed, key)
			c.recountLocked(key)
		}
	}
}

// knownLocked returns the infos of the known nodes.
func (c *cache) knownLocked() []*nodeInfo {
	if c.known == nil {
		c.known = make([]*nodeInfo, 0, len(c.nodes))
		for _, ni := range c.nodes {
			if ni.node != nil {
				c.known = append(c.known, ni)
			}
		}
	}
	return c.known
}

// place picks the best node for pod and, in the same step, assumes it
// there (a copy with spec.nodeName set, returned), so that the next
// decision counts it whatever the binding's progress; claims of the pod
// not yet bound are assumed bound to that node too. A pod whose claim is
// bound to a node goes there or nowhere. With no node fitting it returns
// nil and why.
func (c *cache) place(pod *api.Pod) (*api.Pod, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	pinned, why := c.claimNodeLocked(pod)
	if why != "" {
		return nil, why
	}
	nodes := c.knownLocked()
	best, reasons := pickNode(pod, nodes, pinned, c.namespaces)
	if best == nil {
		return nil, fitErrorMessage(len(nodes), reasons)
	}
	assumed := *pod
	assumed.Spec.NodeName = best.node.Name
	key := podKey(pod)
	c.assumed[key] = assumedPod{pod: &assumed}
	c.recountLocked(key)
	c.assumeClaimsLocked(pod, best.node.Name)
	return &assumed, ""
}

// snapshot returns a copy of every known node's info, sorted by name.
func (c *cache) snapshot() []*nodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	out := make([]*nodeInfo, 0, len(c.nodes))
	for _, ni := range c.knownLocked() {
		cp := newNodeInfo(ni.node)
		for _, p := range ni.pods {
			cp.addPod(p)
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node.Name < out[j].node.Name })
	return out
}

// setNamespace records a namespace's labels, which pod affinity terms'
// namespaceSelectors match.
func (c *cache) setNamespace(ns *api.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.namespaces[ns.Name] = ns.Labels
}

func (c *cache) deleteNamespace(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.namespaces, name)
}
