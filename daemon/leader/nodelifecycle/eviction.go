package nodelifecycle

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"

	"github.com/shoal-dev/shoal/api"
)

// ReasonNodeNotReady is the Event recorded on a pod deleted because its
// node stayed not ready, as Kubernetes' node lifecycle controller names it.
const ReasonNodeNotReady = "NodeNotReady"

// RestartGrace is the least time a node that reports itself not ready (its
// engine does not answer) or whose agent left the cluster on purpose keeps
// its pods, whatever the eviction timeout: those are most often an engine
// or agent restart, not a lost host, and the pods still run. A host that
// stops answering (killed, cut off) is evicted after the timeout alone.
const RestartGrace = 10 * time.Second

// Evictor looks after the pods of nodes that are not Ready. At once, it
// marks their Ready condition False, so that Services stop sending them
// traffic (Endpoints keep ready pods only) while nobody can vouch for them;
// after the eviction timeout it deletes them, so that their controllers
// replace them elsewhere. It runs on the leader only. A node that comes back
// reports its pods' readiness again; one whose pods were deleted stops their
// containers.
type Evictor struct {
	store   EvictionStore
	timeout time.Duration
	rec     events.Sink
	log     *slog.Logger
	now     func() time.Time
}

// NewEvictor evicts the pods of nodes not Ready for longer than timeout.
func NewEvictor(store EvictionStore, timeout time.Duration, rec events.Sink, log *slog.Logger) *Evictor {
	return &Evictor{store: store, timeout: timeout, rec: rec, log: log, now: time.Now}
}

// EvictionStore is what eviction reads and writes.
type EvictionStore interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
}

// Run checks every second until ctx ends (leadership lost or agent stops),
// and again at the moment an unready node's timeout ends, so that a
// failover does not wait for the next tick.
func (e *Evictor) Run(ctx context.Context) {
	leadingSince := e.now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()
	for {
		if next := e.sweep(ctx, leadingSince); !next.IsZero() {
			deadline.Reset(max(next.Sub(e.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-deadline.C:
		}
	}
}

// sweep evicts from every node unready for longer than the timeout. A node
// is counted unready at most from when this agent started leading, since
// an earlier transition time may come from a view other than ours. It
// returns when the next unready node's timeout ends, zero for none.
func (e *Evictor) sweep(ctx context.Context, leadingSince time.Time) (next time.Time) {
	nodes, _, err := e.store.List(ctx, api.KindNode, "", nil)
	if err != nil {
		return
	}
	var unready, gone []*api.Node
	why := map[string]*api.Condition{} // the Ready condition of each unready node
	for _, o := range nodes {
		n := o.(*api.Node)
		c := api.FindCondition(n.Status.Conditions, api.NodeReady)
		if c == nil || c.Status == api.ConditionTrue {
			continue
		}
		unready = append(unready, n)
		why[n.Name] = c
		since := c.LastTransitionTime.Time
		if since.Before(leadingSince) {
			since = leadingSince
		}
		if end := since.Add(e.timeoutFor(c)); !e.now().Before(end) {
			gone = append(gone, n)
		} else if next.IsZero() || end.Before(next) {
			next = end
		}
	}
	if len(unready) == 0 {
		return next
	}
	pods, _, err := e.store.List(ctx, api.KindPod, "", nil)
	if err != nil {
		return next
	}
	for _, n := range unready {
		e.markNotReady(ctx, n, pods)
	}
	for _, n := range gone {
		// As Kubernetes' taints: a node that says it is not ready (False)
		// is not-ready, one nobody hears from (Unknown) unreachable.
		// DaemonSet pods tolerate both.
		c := why[n.Name]
		taint := api.TaintUnreachable
		if c.Status == api.ConditionFalse {
			taint = api.TaintNotReady
		}
		detail := ""
		if c.Message != "" {
			detail = " (" + c.Message + ")"
		}
		for _, o := range pods {
			p := o.(*api.Pod)
			if p.Spec.NodeName != n.Name || api.ToleratesForever(p.Spec.Tolerations, taint) {
				continue
			}
			// The node cannot confirm anything: remove the pod at once.
			_, err := e.store.Delete(ctx, api.KindPod, p.Namespace, p.Name,
				api.DeleteOptions{GracePeriodSeconds: api.Int64(0), UID: p.UID})
			if err != nil && !api.IsNotFound(err) {
				e.log.Warn("evicting pod failed", "pod", p.Namespace+"/"+p.Name, "node", n.Name, "err", err)
				continue
			}
			e.log.Info("evicted pod from an unready node", "pod", p.Namespace+"/"+p.Name, "node", n.Name)
			e.rec.Eventf(p, api.EventWarning, ReasonNodeNotReady, "Deleting pod: node %s has not been ready for %s%s", n.Name, e.timeoutFor(c), detail)
		}
	}
	return next
}

// timeoutFor is how long a node with Ready condition c keeps its pods.
func (e *Evictor) timeoutFor(c *api.Condition) time.Duration {
	if c.Status == api.ConditionFalse || c.Reason == ReasonAgentLeft {
		return max(e.timeout, RestartGrace)
	}
	return e.timeout
}

// markNotReady sets the Ready condition of the node's ready pods to False,
// as Kubernetes' node controller does: the node cannot say whether they
// still serve.
func (e *Evictor) markNotReady(ctx context.Context, n *api.Node, pods []api.Object) {
	for _, o := range pods {
		p := o.(*api.Pod)
		if p.Spec.NodeName != n.Name || p.DeletionTimestamp != nil || !api.IsPodReady(p) {
			continue
		}
		next := *p
		next.Status.Conditions = append([]api.Condition(nil), p.Status.Conditions...)
		for i := range next.Status.Conditions {
			if c := &next.Status.Conditions[i]; c.Type == api.PodReady {
				c.Status, c.Reason = api.ConditionFalse, "NodeNotReady"
				c.Message = "node " + n.Name + " is not ready"
				c.LastTransitionTime = api.NewTime(e.now())
			}
		}
		if _, err := e.store.UpdateStatus(ctx, &next); err != nil {
			if !api.IsNotFound(err) && !api.IsConflict(err) {
				e.log.Warn("marking a pod not ready failed", "pod", p.Namespace+"/"+p.Name, "node", n.Name, "err", err)
			}
			continue
		}
		e.log.Info("marked pod not ready: its node is not ready", "pod", p.Namespace+"/"+p.Name, "node", n.Name)
	}
}
