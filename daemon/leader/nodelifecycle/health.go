package nodelifecycle

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/daemon/membership"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry"
)

// ReasonAgentLeft is the reason of the Ready condition (Unknown) of a node
// whose agent left the cluster on purpose: it stopped, most often to be
// started again, so eviction waits at least RestartGrace.
const ReasonAgentLeft = "AgentLeft"

// HealthStore serves Node objects with their Ready condition taken from
// membership.Source and from the node's own agent: a node is Ready while
// its agent is a live member and does not say otherwise, False while its
// agent says it is not ready (its container engine does not answer: the
// agent writes Ready False, reason KubeletNotReady, into its own status, as
// the kubelet does), and Unknown once membership.Source finds it gone. No
// heartbeat is ever written: each agent derives the condition from its own
// view, and views converge as fast as membership.Source and the node's
// status record do. Everything else passes through to the object store.
type HealthStore struct {
	*registry.Registry
	mem membership.Source
	// self is this agent's node: the only Node whose status it writes
	// (the other agents refuse a node's status written by anyone else).
	self string
}

// NewHealthStore serves reg's objects with Nodes' Ready taken from mem;
// self is this agent's node.
func NewHealthStore(reg *registry.Registry, mem membership.Source, self string) *HealthStore {
	return &HealthStore{Registry: reg, mem: mem, self: self}
}

// UpdateStatus writes an object's status; a Node's only on its own agent.
func (h *HealthStore) UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error) {
	if n, ok := obj.(*api.Node); ok && h.self != "" && n.Name != h.self {
		return nil, api.NewForbiddenBecause(api.KindNode, n.Name, fmt.Errorf(
			"a node's status is written by that node's own agent only; ask the agent of %s", n.Name))
	}
	return h.Registry.UpdateStatus(ctx, obj)
}

// nodeReady computes the Ready condition of a node from membership and
// from what the node's agent wrote (n as stored).
func (h *HealthStore) nodeReady(n *api.Node, view map[string]membership.Member) {
	c := api.FindCondition(n.Status.Conditions, api.NodeReady)
	if c == nil {
		n.Status.Conditions = append(n.Status.Conditions, api.Condition{Type: api.NodeReady})
		c = &n.Status.Conditions[len(n.Status.Conditions)-1]
	}
	m, known := view[n.Name]
	switch {
	case known && m.Alive && c.Status == api.ConditionFalse:
		// The agent answers and says its node is not ready: as written,
		// since it wrote it.
		c.LastHeartbeatTime = api.Now()
		return
	case known && m.Alive:
		// Ready since the later of: the member came alive, the agent said
		// it was ready again.
		since := c.LastTransitionTime
		c.Status, c.Reason, c.Message = api.ConditionTrue, "AgentReady", "shoal agent is a live member of the cluster"
		if !m.Since.IsZero() {
			c.LastTransitionTime = api.NewTime(m.Since)
			if since.After(m.Since) {
				c.LastTransitionTime = since
			}
			c.LastHeartbeatTime = api.Now()
		}
		return
	case known && m.Left:
		c.Status, c.Reason, c.Message = api.ConditionUnknown, ReasonAgentLeft, "shoal agent left the cluster (stopped)"
	case known:
		c.Status, c.Reason, c.Message = api.ConditionUnknown, "NodeStatusUnknown", "shoal agent stopped answering gossip"
	default:
		c.Status, c.Reason, c.Message = api.ConditionUnknown, "NodeStatusUnknown", "shoal agent is not a member of the cluster"
	}
	if known && !m.Since.IsZero() {
		c.LastTransitionTime = api.NewTime(m.Since)
		c.LastHeartbeatTime = api.Now()
	}
}

func (h *HealthStore) viewMap() map[string]membership.Member {
	view := map[string]membership.Member{}
	for _, m := range h.mem.Members() {
		view[m.Name] = m
	}
	return view
}

func (h *HealthStore) overlay(obj api.Object, view map[string]membership.Member) api.Object {
	if n, ok := obj.(*api.Node); ok {
		h.nodeReady(n, view)
	}
	return obj
}

// Get returns an object, a Node with its live Ready condition.
func (h *HealthStore) Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error) {
	obj, err := h.Registry.Get(ctx, k, ns, name)
	if err != nil || k != api.KindNode {
		return obj, err
	}
	return h.overlay(obj, h.viewMap()), nil
}

// List lists objects, Nodes with their live Ready condition.
func (h *HealthStore) List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	objs, rv, err := h.Registry.List(ctx, k, ns, sel)
	if err != nil || k != api.KindNode {
		return objs, rv, err
	}
	view := h.viewMap()
	for _, o := range objs {
		h.overlay(o, view)
	}
	return objs, rv, nil
}

// ListPage is List one page at a time (registry.Registry.ListPage), with
// the same Ready overlay on Nodes.
func (h *HealthStore) ListPage(ctx context.Context, k *api.Kind, ns string, sel api.Selector, after string, limit int) ([]api.Object, string, bool, error) {
	objs, rv, more, err := h.Registry.ListPage(ctx, k, ns, sel, after, limit)
	if err != nil || k != api.KindNode {
		return objs, rv, more, err
	}
	view := h.viewMap()
	for _, o := range objs {
		h.overlay(o, view)
	}
	return objs, rv, more, nil
}

// Watch streams changes; for Nodes it also sends a MODIFIED event whenever
// membership.Source changes a node's Ready condition.
func (h *HealthStore) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	in, err := h.Registry.Watch(ctx, k, ns, opts)
	if err != nil || k != api.KindNode {
		return in, err
	}
	out := make(chan api.WatchEvent)
	go h.watchNodes(ctx, in, out)
	return out, nil
}

// withOwnConditions copies a node deeply enough for nodeReady to change
// the copy only.
func withOwnConditions(n *api.Node) *api.Node {
	c := *n
	c.Status.Conditions = append([]api.Condition(nil), n.Status.Conditions...)
	return &c
}

func (h *HealthStore) watchNodes(ctx context.Context, in <-chan api.WatchEvent, out chan<- api.WatchEvent) {
	defer close(out)
	// What the watcher saw, by name: the node as stored (the overlay is
	// computed from it again when membership changes) and the Ready
	// status sent.
	type seen struct {
		stored *api.Node
		ready  string
	}
	last := map[string]seen{}
	readyOf := func(n *api.Node) string {
		if c := api.FindCondition(n.Status.Conditions, api.NodeReady); c != nil {
			return c.Status
		}
		return ""
	}
	send := func(ev api.WatchEvent) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	changes, unsubscribe := h.mem.Subscribe()
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-in:
			if !ok {
				return
			}
			n, isNode := ev.Object.(*api.Node)
			if !isNode { // the ERROR event that ends the watch: pass it on
				send(ev)
				return
			}
			if ev.Type == api.Bookmark { // a position, not a node
				if !send(ev) {
					return
				}
				continue
			}
			// The registry shares a watch's objects among its watches:
			// the one received stays as stored, the condition goes on a copy.
			stored := n
			n = withOwnConditions(n)
			h.nodeReady(n, h.viewMap())
			if ev.Type == api.Deleted {
				delete(last, n.Name)
			} else {
				last[n.Name] = seen{stored: stored, ready: readyOf(n)}
			}
			if !send(api.WatchEvent{Type: ev.Type, Object: n}) {
				return
			}
		case <-changes:
			view := h.viewMap()
			for name, s := range last {
				c := withOwnConditions(s.stored)
				h.nodeReady(c, view)
				if readyOf(c) == s.ready {
					continue
				}
				last[name] = seen{stored: s.stored, ready: readyOf(c)}
				if !send(api.WatchEvent{Type: api.Modified, Object: c}) {
					return
				}
			}
		}
	}
}
