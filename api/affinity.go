package api

import "fmt"

// Affinity is a pod's affinity, Kubernetes' field: node affinity, pod
// affinity and pod anti-affinity, each required (a filter of the
// scheduler) or preferred (a score).
type Affinity struct {
	NodeAffinity    *NodeAffinity    `json:"nodeAffinity,omitempty"`
	PodAffinity     *PodAffinity     `json:"podAffinity,omitempty"`
	PodAntiAffinity *PodAntiAffinity `json:"podAntiAffinity,omitempty"`
}

// NodeAffinity constrains the nodes a pod may be scheduled to.
type NodeAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution must hold for the
	// scheduler to bind the pod to a node; a node that stops matching
	// later keeps the pod.
	RequiredDuringSchedulingIgnoredDuringExecution *NodeSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution: of the nodes that
	// fit, the scheduler prefers the one whose matching terms weigh most.
	PreferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredSchedulingTerm is a node selector term with a weight (1-100).
// A term with no requirement matches no node, as in Kubernetes.
type PreferredSchedulingTerm struct {
	Weight     int32            `json:"weight"`
	Preference NodeSelectorTerm `json:"preference"`
}

// PodAffinity places a pod in the topology domains (nodes, zones: the
// nodes sharing the value of a label) where pods it names already run.
type PodAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution: every term must hold
	// on a node for the pod to be bound there.
	RequiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution adds the weight of
	// each term that holds on a node to its score.
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAntiAffinity keeps a pod out of the topology domains where pods it
// names run; a required term also keeps those pods out of the pod's own
// domain (the rule is symmetric).
type PodAntiAffinity struct {
	RequiredDuringSchedulingIgnoredDuringExecution  []PodAffinityTerm         `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// WeightedPodAffinityTerm is a pod affinity term with a weight (1-100).
type WeightedPodAffinityTerm struct {
	Weight          int32           `json:"weight"`
	PodAffinityTerm PodAffinityTerm `json:"podAffinityTerm"`
}

// PodAffinityTerm names a set of pods (labelSelector over the namespaces
// given, or the pod's own) and the node label whose value makes a
// topology domain.
type PodAffinityTerm struct {
	// LabelSelector selects the pods; nil selects none.
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
	// Namespaces and NamespaceSelector: the union of the namespaces listed
	// and those selected ({} selects all); neither means the pod's own.
	Namespaces        []string       `json:"namespaces,omitempty"`
	TopologyKey       string         `json:"topologyKey"`
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	// MatchLabelKeys and MismatchLabelKeys add "key in (the pod's value)"
	// and "key notin (the pod's value)" to the selector, for each key the
	// pod has (a pod-template-hash, say, to compare one revision's pods).
	MatchLabelKeys    []string `json:"matchLabelKeys,omitempty"`
	MismatchLabelKeys []string `json:"mismatchLabelKeys,omitempty"`
}

// TopologySpreadConstraint spreads the pods a selector names evenly over
// the topology domains of a node label.
type TopologySpreadConstraint struct {
	// MaxSkew is the most the count of matching pods in a domain may
	// exceed the least count of any eligible domain.
	MaxSkew     int32  `json:"maxSkew"`
	TopologyKey string `json:"topologyKey"`
	// WhenUnsatisfiable: DoNotSchedule (a filter) or ScheduleAnyway (a
	// score: the node whose domain has fewest matching pods first).
	WhenUnsatisfiable string         `json:"whenUnsatisfiable"`
	LabelSelector     *LabelSelector `json:"labelSelector,omitempty"`
	// MinDomains: with fewer eligible domains than this, the least count
	// is taken as 0 (DoNotSchedule only).
	MinDomains *int32 `json:"minDomains,omitempty"`
	// NodeAffinityPolicy (default Honor) and NodeTaintsPolicy (default
	// Ignore) say whether nodes the pod's node affinity or selector, or
	// their taints, keep it off still count as domains.
	NodeAffinityPolicy *string  `json:"nodeAffinityPolicy,omitempty"`
	NodeTaintsPolicy   *string  `json:"nodeTaintsPolicy,omitempty"`
	MatchLabelKeys     []string `json:"matchLabelKeys,omitempty"`
}

// Values of TopologySpreadConstraint fields.
const (
	DoNotSchedule  = "DoNotSchedule"
	ScheduleAnyway = "ScheduleAnyway"
	PolicyHonor    = "Honor"
	PolicyIgnore   = "Ignore"
)

// PodSelector is the selector of the term as the pod that holds it sees
// it: labelSelector plus its matchLabelKeys and mismatchLabelKeys with
// the pod's values. ok is false when the term selects no pod (no
// labelSelector, or one that does not parse).
func (t *PodAffinityTerm) PodSelector(owner *Pod) (sel Selector, ok bool) {
	sel, ok = selectorWithKeys(t.LabelSelector, owner.Labels, t.MatchLabelKeys)
	if !ok {
		return nil, false
	}
	for _, k := range t.MismatchLabelKeys {
		if v, has := owner.Labels[k]; has {
			sel = append(sel, Requirement{Key: k, Operator: OpNotIn, Values: []string{v}})
		}
	}
	return sel, true
}

// PodSelector is the constraint's selector with its matchLabelKeys taken
// from the pod; ok is false when it selects no pod.
func (c *TopologySpreadConstraint) PodSelector(owner *Pod) (Selector, bool) {
	return selectorWithKeys(c.LabelSelector, owner.Labels, c.MatchLabelKeys)
}

// selectorWithKeys parses ls and adds "key in (value)" for each of keys
// that labels has.
func selectorWithKeys(ls *LabelSelector, labels map[string]string, keys []string) (Selector, bool) {
	if ls == nil {
		return nil, false
	}
	sel, err := ls.AsSelector()
	if err != nil {
		return nil, false
	}
	for _, k := range keys {
		if v, has := labels[k]; has {
			sel = append(sel, Requirement{Key: k, Operator: OpIn, Values: []string{v}})
		}
	}
	return sel, true
}

// NamespaceSelectorParsed is the term's namespaceSelector parsed; ok is false
// when it has none (or it does not parse), so that only the namespaces
// listed count.
func (t *PodAffinityTerm) NamespaceSelectorParsed() (Selector, bool) {
	if t.NamespaceSelector == nil {
		return nil, false
	}
	sel, err := t.NamespaceSelector.AsSelector()
	return sel, err == nil
}

// HasPodAffinity reports whether the pod has any pod affinity or
// anti-affinity term, required or preferred.
func HasPodAffinity(s *PodSpec) bool {
	a := s.Affinity
	if a == nil {
		return false
	}
	pa, anti := a.PodAffinity, a.PodAntiAffinity
	return pa != nil && (len(pa.RequiredDuringSchedulingIgnoredDuringExecution) > 0 || len(pa.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		anti != nil && (len(anti.RequiredDuringSchedulingIgnoredDuringExecution) > 0 || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) > 0)
}

// PreferredNodeAffinityScore is the sum of the weights of the pod's
// preferred node affinity terms that node n matches.
func PreferredNodeAffinityScore(s *PodSpec, n *Node) int64 {
	if s.Affinity == nil || s.Affinity.NodeAffinity == nil {
		return 0
	}
	var sum int64
	for i := range s.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		t := &s.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i]
		if t.Preference.matches(n) {
			sum += int64(t.Weight)
		}
	}
	return sum
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
	if a == nil {
		return
	}
	if a.NodeAffinity != nil {
		validateNodeAffinity(e, a.NodeAffinity, p.child("nodeAffinity"))
	}
	if a.PodAffinity != nil {
		validatePodAffinityTerms(e, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
			a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, p.child("podAffinity"))
	}
	if a.PodAntiAffinity != nil {
		validatePodAffinityTerms(e, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
			a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, p.child("podAntiAffinity"))
	}
}

func validateNodeAffinity(e *errs, na *NodeAffinity, p path) {
	if na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		rp := p.child("requiredDuringSchedulingIgnoredDuringExecution")
		terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) == 0 {
			e.required(rp.child("nodeSelectorTerms"), "give at least one term")
		}
		for i := range terms {
			validateNodeSelectorTerm(e, &terms[i], rp.child("nodeSelectorTerms").index(i))
		}
	}
	for i := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		t := &na.PreferredDuringSchedulingIgnoredDuringExecution[i]
		tp := p.child("preferredDuringSchedulingIgnoredDuringExecution").index(i)
		validateWeight(e, t.Weight, tp.child("weight"))
		validateNodeSelectorTerm(e, &t.Preference, tp.child("preference"))
	}
}

func validateNodeSelectorTerm(e *errs, t *NodeSelectorTerm, p path) {
	for j, r := range t.MatchExpressions {
		validateNodeRequirement(e, r, p.child("matchExpressions").index(j), false)
	}
	for j, r := range t.MatchFields {
		validateNodeRequirement(e, r, p.child("matchFields").index(j), true)
	}
}

func validateWeight(e *errs, w int32, p path) {
	if w < 1 || w > 100 {
		e.invalid(p, w, "must be in the range 1-100")
	}
}

func validatePodAffinityTerms(e *errs, required []PodAffinityTerm, preferred []WeightedPodAffinityTerm, p path) {
	for i := range required {
		validatePodAffinityTerm(e, &required[i], p.child("requiredDuringSchedulingIgnoredDuringExecution").index(i))
	}
	for i := range preferred {
		tp := p.child("preferredDuringSchedulingIgnoredDuringExecution").index(i)
		validateWeight(e, preferred[i].Weight, tp.child("weight"))
		validatePodAffinityTerm(e, &preferred[i].PodAffinityTerm, tp.child("podAffinityTerm"))
	}
}

func validatePodAffinityTerm(e *errs, t *PodAffinityTerm, p path) {
	validateTopologyKey(e, t.TopologyKey, p.child("topologyKey"))
	validateOptionalSelector(e, t.LabelSelector, p.child("labelSelector"))
	validateOptionalSelector(e, t.NamespaceSelector, p.child("namespaceSelector"))
	for i, ns := range t.Namespaces {
		for _, msg := range IsDNS1123Label(ns) {
			e.invalid(p.child("namespaces").index(i), ns, msg)
		}
	}
	validateLabelKeys(e, t.LabelSelector, t.MatchLabelKeys, p.child("matchLabelKeys"))
	validateLabelKeys(e, t.LabelSelector, t.MismatchLabelKeys, p.child("mismatchLabelKeys"))
	for i, k := range t.MismatchLabelKeys {
		if contains(t.MatchLabelKeys, k) {
			e.invalid(p.child("mismatchLabelKeys").index(i), k, "must not also be in `matchLabelKeys`")
		}
	}
}

func validateTopologyKey(e *errs, key string, p path) {
	if key == "" {
		e.required(p, "name the node label whose value makes a topology domain, such as "+LabelHostname)
		return
	}
	validateQualifiedKey(e, p, key)
}

// validateOptionalSelector checks a selector that may be nil (and may be
// empty: it then selects everything).
func validateOptionalSelector(e *errs, sel *LabelSelector, p path) {
	if sel == nil {
		return
	}
	validateLabels(e, p.child("matchLabels"), sel.MatchLabels)
	for i, r := range sel.MatchExpressions {
		validateQualifiedKey(e, p.child("matchExpressions").index(i).child("key"), r.Key)
	}
	if _, err := sel.AsSelector(); err != nil {
		e.invalid(p, nil, err.Error())
	}
}

// validateLabelKeys checks matchLabelKeys (or mismatchLabelKeys): label
// keys, not already in the labelSelector, which must be set.
func validateLabelKeys(e *errs, sel *LabelSelector, keys []string, p path) {
	if len(keys) > 0 && sel == nil {
		e.forbidden(p, "may not be set when `labelSelector` is not set")
		return
	}
	for i, k := range keys {
		kp := p.index(i)
		validateQualifiedKey(e, kp, k)
		if _, dup := sel.MatchLabels[k]; dup {
			e.invalid(kp, k, "exists in both `matchLabelKeys` and `labelSelector`")
			continue
		}
		for _, r := range sel.MatchExpressions {
			if r.Key == k {
				e.invalid(kp, k, "exists in both `matchLabelKeys` and `labelSelector`")
				break
			}
		}
	}
}

func validateTopologySpread(e *errs, cs []TopologySpreadConstraint, p path) {
	seen := map[[2]string]bool{}
	for i := range cs {
		c := &cs[i]
		cp := p.index(i)
		if c.MaxSkew <= 0 {
			e.invalid(cp.child("maxSkew"), c.MaxSkew, "must be greater than zero")
		}
		validateTopologyKey(e, c.TopologyKey, cp.child("topologyKey"))
		switch c.WhenUnsatisfiable {
		case DoNotSchedule, ScheduleAnyway:
		case "":
			e.required(cp.child("whenUnsatisfiable"), "one of DoNotSchedule or ScheduleAnyway")
		default:
			e.notSupported(cp.child("whenUnsatisfiable"), c.WhenUnsatisfiable, DoNotSchedule, ScheduleAnyway)
		}
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				e.invalid(cp.child("minDomains"), *c.MinDomains, "must be greater than zero")
			}
			if c.WhenUnsatisfiable != DoNotSchedule {
				e.invalid(cp.child("minDomains"), *c.MinDomains, "can only be set when `whenUnsatisfiable` is DoNotSchedule")
			}
		}
		for _, pol := range []struct {
			name string
			v    *string
		}{{"nodeAffinityPolicy", c.NodeAffinityPolicy}, {"nodeTaintsPolicy", c.NodeTaintsPolicy}} {
			if pol.v != nil && *pol.v != PolicyHonor && *pol.v != PolicyIgnore {
				e.notSupported(cp.child(pol.name), *pol.v, PolicyHonor, PolicyIgnore)
			}
		}
		validateOptionalSelector(e, c.LabelSelector, cp.child("labelSelector"))
		validateLabelKeys(e, c.LabelSelector, c.MatchLabelKeys, cp.child("matchLabelKeys"))
		pair := [2]string{c.TopologyKey, c.WhenUnsatisfiable}
		if seen[pair] {
			e.duplicate(cp, fmt.Sprintf("{%s, %s}", c.TopologyKey, c.WhenUnsatisfiable))
		}
		seen[pair] = true
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
