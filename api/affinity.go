package api

// Affinity is a pod's affinity, Kubernetes' field; shoal honours the
// required node affinity.
type Affinity struct {
	NodeAffinity *NodeAffinity `json:"nodeAffinity,omitempty"`
}

// NodeAffinity constrains the nodes a pod may be scheduled to.
type NodeAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution must hold for the
	// scheduler to bind the pod to a node; a node that stops matching
	// later keeps the pod.
	RequiredDuringSchedulingIgnoredDuringExecution *NodeSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector is a list of terms, any of which a node may match.
type NodeSelector struct {
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm holds requirements on a node's labels and fields, all
// of which must hold. A term with none matches no node, as in Kubernetes.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	// MatchFields may name the field metadata.name only (what DaemonSet
	// pods are pinned to their node by).
	MatchFields []NodeSelectorRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorRequirement is one requirement: In, NotIn, Exists or
// DoesNotExist (Kubernetes' Gt and Lt are refused).
type NodeSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// FieldNodeName is the one field matchFields may name.
const FieldNodeName = "metadata.name"

// RequiredNodeAffinity returns the pod's required node affinity, or nil.
func RequiredNodeAffinity(s *PodSpec) *NodeSelector {
	if s.Affinity == nil || s.Affinity.NodeAffinity == nil {
		return nil
	}
	return s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// MatchesNodeAffinity reports whether node n satisfies the pod's required
// node affinity: one of its terms holds (true when there is none).
func MatchesNodeAffinity(s *PodSpec, n *Node) bool {
	ns := RequiredNodeAffinity(s)
	if ns == nil {
		return true
	}
	for _, t := range ns.NodeSelectorTerms {
		if t.matches(n) {
			return true
		}
	}
	return false
}

func (t *NodeSelectorTerm) matches(n *Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := n.Labels[r.Key]
		if !r.matches(v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != FieldNodeName || !r.matches(n.Name, true) {
			return false
		}
	}
	return true
}

func (r *NodeSelectorRequirement) matches(v string, present bool) bool {
	switch r.Operator {
	case OpIn:
		return present && contains(r.Values, v)
	case OpNotIn:
		return !present || !contains(r.Values, v)
	case OpExists:
		return present
	case OpDoesNotExist:
		return !present
	}
	return false
}

// NodeNameOfAffinity returns the node a pod is pinned to by its required
// node affinity, as the DaemonSet controller pins its pods: every term
// requires metadata.name In one same node. "" when it is not pinned so.
func NodeNameOfAffinity(s *PodSpec) string {
	ns := RequiredNodeAffinity(s)
	if ns == nil || len(ns.NodeSelectorTerms) == 0 {
		return ""
	}
	name := ""
	for _, t := range ns.NodeSelectorTerms {
		found := ""
		for _, r := range t.MatchFields {
			if r.Key == FieldNodeName && r.Operator == OpIn && len(r.Values) == 1 {
				found = r.Values[0]
			}
		}
		if found == "" || (name != "" && found != name) {
			return ""
		}
		name = found
	}
	return name
}

func validateAffinity(e *errs, a *Affinity, p path) {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return
	}
	rp := p.child("nodeAffinity").child("requiredDuringSchedulingIgnoredDuringExecution")
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		e.required(rp.child("nodeSelectorTerms"), "give at least one term")
	}
	for i, t := range terms {
		tp := rp.child("nodeSelectorTerms").index(i)
		for j, r := range t.MatchExpressions {
			validateNodeRequirement(e, r, tp.child("matchExpressions").index(j), false)
		}
		for j, r := range t.MatchFields {
			validateNodeRequirement(e, r, tp.child("matchFields").index(j), true)
		}
	}
}

func validateNodeRequirement(e *errs, r NodeSelectorRequirement, p path, field bool) {
	if field {
		if r.Key != FieldNodeName {
			e.notSupported(p.child("key"), r.Key, FieldNodeName)
		}
		if r.Operator != OpIn && r.Operator != OpNotIn {
			e.notSupported(p.child("operator"), r.Operator, OpIn, OpNotIn)
		}
	} else {
		for _, msg := range IsQualifiedName(r.Key) {
			e.invalid(p.child("key"), r.Key, msg)
		}
	}
	switch r.Operator {
	case OpIn, OpNotIn:
		if len(r.Values) == 0 {
			e.required(p.child("values"), "operator "+r.Operator+" needs at least one value")
		}
	case OpExists, OpDoesNotExist:
		if len(r.Values) > 0 {
			e.invalid(p.child("values"), r.Values, "must be empty when `operator` is "+r.Operator)
		}
	default:
		if !field {
			e.notSupported(p.child("operator"), r.Operator, OpIn, OpNotIn, OpExists, OpDoesNotExist)
		}
	}
}
