package scheduler

import (
	"github.com/shoal-dev/shoal/api"
)

// Reasons of the pod affinity filter, in the words of the Kubernetes
// scheduler's InterPodAffinity plug-in.
const (
	reasonPodAffinity      = "node(s) didn't match pod affinity rules"
	reasonPodAntiAffinity  = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffi = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// hardPodAffinityWeight is what an existing pod's required affinity term
// that names the new pod adds to the score of its domain, as the
// Kubernetes scheduler's default hardPodAffinityWeight does.
const hardPodAffinityWeight = 1

// labelMetadataName is the label Kubernetes gives every namespace: its
// name, so that a namespaceSelector can name namespaces.
const labelMetadataName = "kubernetes.io/metadata.name"

// namespaceLabels gives the labels of a namespace by name.
type namespaceLabels map[string]map[string]string

// labelsOf returns the namespace's labels, with its name as
// kubernetes.io/metadata.name whatever the object says.
func (nl namespaceLabels) labelsOf(ns string) map[string]string {
	out := map[string]string{labelMetadataName: ns}
	for k, v := range nl[ns] {
		if k != labelMetadataName {
			out[k] = v
		}
	}
	return out
}

// affinityTerm is a pod affinity term resolved for the pod that holds it:
// its selector with the pod's matchLabelKeys, and its namespaces.
type affinityTerm struct {
	key        string
	weight     int64
	sel        api.Selector
	selects    bool            // false: the term selects no pod
	namespaces map[string]bool // listed, or the holder's own
	nsSel      api.Selector
	hasNsSel   bool
}

func resolveTerm(owner *api.Pod, t *api.PodAffinityTerm, weight int64) affinityTerm {
	at := affinityTerm{key: t.TopologyKey, weight: weight, namespaces: map[string]bool{}}
	at.sel, at.selects = t.PodSelector(owner)
	at.nsSel, at.hasNsSel = t.NamespaceSelectorParsed()
	for _, ns := range t.Namespaces {
		at.namespaces[ns] = true
	}
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		at.namespaces[owner.Namespace] = true
	}
	return at
}

// matches reports whether the term names pod p.
func (t *affinityTerm) matches(p *api.Pod, nl namespaceLabels) bool {
	if !t.selects {
		return false
	}
	if !t.namespaces[p.Namespace] && (!t.hasNsSel || !t.nsSel.Matches(nl.labelsOf(p.Namespace))) {
		return false
	}
	return t.sel.Matches(p.Labels)
}

// podTerms are a pod's resolved pod affinity terms, by kind.
type podTerms struct {
	reqAffinity, reqAnti, prefAffinity, prefAnti []affinityTerm
}

func termsOf(p *api.Pod) podTerms {
	var pt podTerms
	a := p.Spec.Affinity
	if a == nil {
		return pt
	}
	if pa := a.PodAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			pt.reqAffinity = append(pt.reqAffinity, resolveTerm(p, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], hardPodAffinityWeight))
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			pt.prefAffinity = append(pt.prefAffinity, resolveTerm(p, &w.PodAffinityTerm, int64(w.Weight)))
		}
	}
	if anti := a.PodAntiAffinity; anti != nil {
		for i := range anti.RequiredDuringSchedulingIgnoredDuringExecution {
			pt.reqAnti = append(pt.reqAnti, resolveTerm(p, &anti.RequiredDuringSchedulingIgnoredDuringExecution[i], 0))
		}
		for i := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &anti.PreferredDuringSchedulingIgnoredDuringExecution[i]
			pt.prefAnti = append(pt.prefAnti, resolveTerm(p, &w.PodAffinityTerm, int64(w.Weight)))
		}
	}
	return pt
}

func (pt *podTerms) empty() bool {
	return len(pt.reqAffinity)+len(pt.reqAnti)+len(pt.prefAffinity)+len(pt.prefAnti) == 0
}

// domains are topology domains: node label key, then value.
type domains map[string]map[string]int64

func (d domains) add(key, value string, n int64) {
	if d[key] == nil {
		d[key] = map[string]int64{}
	}
	d[key][value] += n
}

// holds reports whether the node is in one of the domains.
func (d domains) holds(n *api.Node) bool {
	for key, values := range d {
		if v, ok := n.Labels[key]; ok {
			if _, in := values[v]; in {
				return true
			}
		}
	}
	return false
}

// sum adds up the values of the domains the node is in.
func (d domains) sum(n *api.Node) int64 {
	var s int64
	for key, values := range d {
		if v, ok := n.Labels[key]; ok {
			s += values[v]
		}
	}
	return s
}

// interPod is what pod affinity needs of the whole cluster for one pod,
// worked out once per decision over every node's pods (those assumed by
// this scheduler and not bound yet included, so that one pass never puts
// two anti-affine pods together).
type interPod struct {
	terms podTerms
	// affinity holds, per required affinity term, the values of its
	// topology key on nodes running a pod it names.
	affinity []map[string]bool
	// anyAffinityMatch: some pod matches a required affinity term; if none
	// does and the pod matches its own terms, it is the first of its group
	// and may go anywhere (as in Kubernetes).
	anyAffinityMatch bool
	selfAffine       bool
	antiDomains      domains // where the pod's required anti-affinity keeps it out
	existingDomains  domains // where other pods' required anti-affinity keep it out
	preferred        domains // the score of preferred terms, both ways, per domain
}

// newInterPod works out the pod affinity state of p; nil when neither p
// nor any pod on the nodes has a pod affinity term.
func newInterPod(p *api.Pod, nodes []*nodeInfo, nl namespaceLabels) *interPod {
	terms := termsOf(p)
	anyAffine := false
	for _, n := range nodes {
		if len(n.affine) > 0 {
			anyAffine = true
			break
		}
	}
	if terms.empty() && !anyAffine {
		return nil
	}
	s := &interPod{terms: terms, affinity: make([]map[string]bool, len(terms.reqAffinity)),
		antiDomains: domains{}, existingDomains: domains{}, preferred: domains{}}
	for i := range s.affinity {
		s.affinity[i] = map[string]bool{}
	}
	s.selfAffine = true
	for i := range terms.reqAffinity {
		if !terms.reqAffinity[i].matches(p, nl) {
			s.selfAffine = false
		}
	}
	self := podKey(p)
	for _, n := range nodes {
		labels := n.node.Labels
		if !terms.empty() {
			for key, e := range n.pods {
				if key == self {
					continue
				}
				s.countOwnTerms(e, labels, nl)
			}
		}
		for key, theirs := range n.affine {
			if key == self {
				continue
			}
			s.countTheirTerms(p, theirs, labels, nl)
		}
	}
	return s
}

// countOwnTerms counts existing pod e, on a node of those labels, against
// the new pod's terms.
func (s *interPod) countOwnTerms(e *api.Pod, labels map[string]string, nl namespaceLabels) {
	for i := range s.terms.reqAffinity {
		t := &s.terms.reqAffinity[i]
		if v, ok := labels[t.key]; ok && t.matches(e, nl) {
			s.affinity[i][v] = true
			s.anyAffinityMatch = true
		}
	}
	for i := range s.terms.reqAnti {
		t := &s.terms.reqAnti[i]
		if v, ok := labels[t.key]; ok && t.matches(e, nl) {
			s.antiDomains.add(t.key, v, 1)
		}
	}
	for i := range s.terms.prefAffinity {
		t := &s.terms.prefAffinity[i]
		if v, ok := labels[t.key]; ok && t.matches(e, nl) {
			s.preferred.add(t.key, v, t.weight)
		}
	}
	for i := range s.terms.prefAnti {
		t := &s.terms.prefAnti[i]
		if v, ok := labels[t.key]; ok && t.matches(e, nl) {
			s.preferred.add(t.key, v, -t.weight)
		}
	}
}

// countTheirTerms counts the terms of an existing pod, on a node of those
// labels, that name the new pod p: its required anti-affinity keeps p out
// of its domain (the rule is symmetric); its other terms score.
func (s *interPod) countTheirTerms(p *api.Pod, theirs podTerms, labels map[string]string, nl namespaceLabels) {
	for i := range theirs.reqAnti {
		t := &theirs.reqAnti[i]
		if v, ok := labels[t.key]; ok && t.matches(p, nl) {
			s.existingDomains.add(t.key, v, 1)
		}
	}
	for _, list := range [][]affinityTerm{theirs.reqAffinity, theirs.prefAffinity} {
		for i := range list {
			t := &list[i]
			if v, ok := labels[t.key]; ok && t.matches(p, nl) {
				s.preferred.add(t.key, v, t.weight)
			}
		}
	}
	for i := range theirs.prefAnti {
		t := &theirs.prefAnti[i]
		if v, ok := labels[t.key]; ok && t.matches(p, nl) {
			s.preferred.add(t.key, v, -t.weight)
		}
	}
}

// podAffinityFits is the filter of required pod affinity and
// anti-affinity, the pod's and that of the pods already placed.
func podAffinityFits(_ *api.Pod, req *podRequest, n *nodeInfo) []string {
	s := req.interPod
	if s == nil {
		return nil
	}
	// In the Kubernetes scheduler's order: the pod's affinity, its
	// anti-affinity, then that of the pods already placed.
	podsExist := true
	for i := range s.terms.reqAffinity {
		v, ok := n.node.Labels[s.terms.reqAffinity[i].key]
		if !ok {
			return []string{reasonPodAffinity}
		}
		if !s.affinity[i][v] {
			podsExist = false
		}
	}
	if !podsExist && (s.anyAffinityMatch || !s.selfAffine) {
		return []string{reasonPodAffinity}
	}
	if s.antiDomains.holds(n.node) {
		return []string{reasonPodAntiAffinity}
	}
	if s.existingDomains.holds(n.node) {
		return []string{reasonExistingAntiAffi}
	}
	return nil
}

// podAffinityScore is the sum of the preferred terms' weights that hold on
// the node: added for affinity, taken away for anti-affinity.
func podAffinityScore(req *podRequest, n *nodeInfo) int64 {
	if req.interPod == nil {
		return 0
	}
	return req.interPod.preferred.sum(n.node)
}
