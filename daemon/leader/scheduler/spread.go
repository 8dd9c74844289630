package scheduler

import (
	"github.com/shoal-dev/shoal/api"
)

// Reasons of the topology spread filter, in the words of the Kubernetes
// scheduler's PodTopologySpread plug-in.
const (
	reasonSpread             = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// missingDomainPenalty is the spread score of a node without the topology
// key of a ScheduleAnyway constraint: worse than any count.
const missingDomainPenalty = 1 << 30

// spreadConstraint is one topology spread constraint with the matching
// pods counted per domain.
type spreadConstraint struct {
	key       string
	maxSkew   int64
	selfMatch int64            // 1 if the pod itself matches the selector
	counts    map[string]int64 // matching pods per domain (value of key) of the eligible nodes
	min       int64            // the least count of an eligible domain; 0 with fewer than minDomains
}

// spreadState holds a pod's constraints, DoNotSchedule (filters) and
// ScheduleAnyway (scores) apart.
type spreadState struct {
	hard, soft []*spreadConstraint
}

// newSpreadState counts the pods of the pod's constraints; nil when it
// has none. As in Kubernetes, only pods of the pod's namespace that are
// not being deleted count, on nodes that have every topology key of the
// constraints of their kind, that the pod's nodeSelector and required
// node affinity allow (nodeAffinityPolicy Honor, the default) and whose
// taints it tolerates when nodeTaintsPolicy is Honor.
func newSpreadState(p *api.Pod, nodes []*nodeInfo) *spreadState {
	cs := p.Spec.TopologySpreadConstraints
	if len(cs) == 0 {
		return nil
	}
	s := &spreadState{}
	var hard, soft []*api.TopologySpreadConstraint
	for i := range cs {
		if cs[i].WhenUnsatisfiable == api.ScheduleAnyway {
			soft = append(soft, &cs[i])
		} else {
			hard = append(hard, &cs[i])
		}
	}
	s.hard = countSpread(p, hard, nodes)
	s.soft = countSpread(p, soft, nodes)
	return s
}

func countSpread(p *api.Pod, cs []*api.TopologySpreadConstraint, nodes []*nodeInfo) []*spreadConstraint {
	if len(cs) == 0 {
		return nil
	}
	out := make([]*spreadConstraint, len(cs))
	sels := make([]api.Selector, len(cs))
	selects := make([]bool, len(cs))
	for i, c := range cs {
		out[i] = &spreadConstraint{key: c.TopologyKey, maxSkew: int64(c.MaxSkew), counts: map[string]int64{}}
		sels[i], selects[i] = c.PodSelector(p)
		if selects[i] && sels[i].Matches(p.Labels) {
			out[i].selfMatch = 1
		}
	}
	self := podKey(p)
	for _, n := range nodes {
		if !hasKeys(n.node, cs) {
			continue
		}
		for i, c := range cs {
			if !eligible(p, c, n) {
				continue
			}
			v := n.node.Labels[c.TopologyKey]
			out[i].counts[v] += 0 // the domain exists, with or without pods
			if !selects[i] {
				continue
			}
			for key, e := range n.pods {
				if key != self && e.Namespace == p.Namespace && e.DeletionTimestamp == nil && sels[i].Matches(e.Labels) {
					out[i].counts[v]++
				}
			}
		}
	}
	for i, c := range cs {
		sc := out[i]
		first := true
		for _, n := range sc.counts {
			if first || n < sc.min {
				sc.min, first = n, false
			}
		}
		if c.MinDomains != nil && int32(len(sc.counts)) < *c.MinDomains {
			sc.min = 0
		}
	}
	return out
}

// hasKeys: the node has the topology key of every constraint.
func hasKeys(n *api.Node, cs []*api.TopologySpreadConstraint) bool {
	for _, c := range cs {
		if _, ok := n.Labels[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// eligible: the node's domain counts for the constraint, by its node
// inclusion policies.
func eligible(p *api.Pod, c *api.TopologySpreadConstraint, n *nodeInfo) bool {
	if c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == api.PolicyHonor {
		if len(nodeSelectorMatches(p, nil, n)) > 0 || len(nodeAffinityMatches(p, nil, n)) > 0 {
			return false
		}
	}
	if c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == api.PolicyHonor && len(taintsTolerated(p, nil, n)) > 0 {
		return false
	}
	return true
}

// topologySpreadFits is the filter of DoNotSchedule constraints: placing
// the pod on the node must leave its domain at most maxSkew above the
// least loaded domain.
func topologySpreadFits(_ *api.Pod, req *podRequest, n *nodeInfo) []string {
	if req.spread == nil {
		return nil
	}
	for _, c := range req.spread.hard {
		v, ok := n.node.Labels[c.key]
		if !ok {
			return []string{reasonSpreadMissingLabel}
		}
		if c.counts[v]+c.selfMatch-c.min > c.maxSkew {
			return []string{reasonSpread}
		}
	}
	return nil
}

// topologySpreadScore is the count of matching pods in the node's domain
// of every ScheduleAnyway constraint: lower is better.
func topologySpreadScore(req *podRequest, n *nodeInfo) int64 {
	if req.spread == nil {
		return 0
	}
	var sum int64
	for _, c := range req.spread.soft {
		v, ok := n.node.Labels[c.key]
		if !ok {
			sum += missingDomainPenalty
			continue
		}
		sum += c.counts[v]
	}
	return sum
}
