package api

import (
	"strings"
	"testing"
)

func TestAffinityValidation(t *testing.T) {
	pod := func(terms ...NodeSelectorTerm) *Pod {
		return &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: PodSpec{
			Containers: []Container{{Name: "c", Image: "img"}},
			Affinity: &Affinity{NodeAffinity: &NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: terms}}},
		}}
	}
	r := func(k, op string, v ...string) []NodeSelectorRequirement {
		return []NodeSelectorRequirement{{Key: k, Operator: op, Values: v}}
	}
	cases := []struct {
		name string
		pod  *Pod
		want string
	}{
		{"pinned", pod(NodeSelectorTerm{MatchFields: r(FieldNodeName, OpIn, "n1")}), ""},
		{"labels", pod(NodeSelectorTerm{MatchExpressions: r("disk", OpExists)}), ""},
		{"no term", pod(), "nodeSelectorTerms"},
		{"another field", pod(NodeSelectorTerm{MatchFields: r("metadata.uid", OpIn, "x")}), "metadata.uid"},
		{"Gt refused", pod(NodeSelectorTerm{MatchExpressions: r("cores", "Gt", "4")}), "Gt"},
		{"In without values", pod(NodeSelectorTerm{MatchExpressions: r("disk", OpIn)}), "values"},
		{"Exists with values", pod(NodeSelectorTerm{MatchExpressions: r("disk", OpExists, "ssd")}), "values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.pod)
			err := Validate(tc.pod)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if n := NodeNameOfAffinity(&pod(NodeSelectorTerm{MatchFields: r(FieldNodeName, OpIn, "n1")}).Spec); n != "n1" {
		t.Errorf("pinned to %q", n)
	}
	if n := NodeNameOfAffinity(&pod(NodeSelectorTerm{MatchFields: r(FieldNodeName, OpIn, "n1", "n2")}).Spec); n != "" {
		t.Errorf("two nodes pin to %q", n)
	}
}

func TestPodAffinityAndSpreadValidation(t *testing.T) {
	sel := &LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	term := func(mod func(*PodAffinityTerm)) PodAffinityTerm {
		t := PodAffinityTerm{LabelSelector: sel, TopologyKey: LabelHostname}
		if mod != nil {
			mod(&t)
		}
		return t
	}
	spread := func(mod func(*TopologySpreadConstraint)) TopologySpreadConstraint {
		c := TopologySpreadConstraint{MaxSkew: 1, TopologyKey: LabelZone, WhenUnsatisfiable: DoNotSchedule, LabelSelector: sel}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	pod := func(mod func(*PodSpec)) *Pod {
		p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: PodSpec{Containers: []Container{{Name: "c", Image: "img"}}}}
		mod(&p.Spec)
		return p
	}
	anti := func(req ...PodAffinityTerm) func(*PodSpec) {
		return func(s *PodSpec) {
			s.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req}}
		}
	}
	preferred := func(w int32, t PodAffinityTerm) func(*PodSpec) {
		return func(s *PodSpec) {
			s.Affinity = &Affinity{PodAffinity: &PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: t}}}}
		}
	}
	spreads := func(cs ...TopologySpreadConstraint) func(*PodSpec) {
		return func(s *PodSpec) { s.TopologySpreadConstraints = cs }
	}
	one := int32(1)
	bad := "Bad"
	cases := []struct {
		name string
		pod  *Pod
		want string
	}{
		{"anti-affinity on hostname", pod(anti(term(nil))), ""},
		{"no topologyKey", pod(anti(term(func(t *PodAffinityTerm) { t.TopologyKey = "" }))),
			"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value"},
		{"topologyKey not a label key", pod(anti(term(func(t *PodAffinityTerm) { t.TopologyKey = "a b" }))), "topologyKey"},
		{"bad namespace", pod(anti(term(func(t *PodAffinityTerm) { t.Namespaces = []string{"Not_A_Name"} }))), "namespaces[0]"},
		{"bad selector operator", pod(anti(term(func(t *PodAffinityTerm) {
			t.LabelSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Has"}}}
		}))), "labelSelector"},
		{"matchLabelKeys without labelSelector", pod(anti(term(func(t *PodAffinityTerm) {
			t.LabelSelector, t.MatchLabelKeys = nil, []string{"rev"}
		}))), "matchLabelKeys: Forbidden"},
		{"matchLabelKeys repeating the selector", pod(anti(term(func(t *PodAffinityTerm) { t.MatchLabelKeys = []string{"app"} }))), "matchLabelKeys[0]"},
		{"a key both matched and mismatched", pod(anti(term(func(t *PodAffinityTerm) {
			t.MatchLabelKeys, t.MismatchLabelKeys = []string{"rev"}, []string{"rev"}
		}))), "mismatchLabelKeys[0]"},
		{"preferred weight 100", pod(preferred(100, term(nil))), ""},
		{"preferred weight 0", pod(preferred(0, term(nil))),
			"spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"},
		{"preferred weight 101", pod(preferred(101, term(nil))), "weight"},
		{"preferred term without topologyKey", pod(preferred(5, term(func(t *PodAffinityTerm) { t.TopologyKey = "" }))), "podAffinityTerm.topologyKey"},
		{"preferred node affinity weight", pod(func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []PreferredSchedulingTerm{
				{Weight: 200, Preference: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: "disk", Operator: OpExists}}}}}}}
		}), "nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"},
		{"preferred node affinity Gt", pod(func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []PreferredSchedulingTerm{
				{Weight: 2, Preference: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: "cores", Operator: "Gt", Values: []string{"4"}}}}}}}}
		}), "preference.matchExpressions[0].operator"},
		{"spread", pod(spreads(spread(nil), spread(func(c *TopologySpreadConstraint) { c.WhenUnsatisfiable = ScheduleAnyway }))), ""},
		{"maxSkew 0", pod(spreads(spread(func(c *TopologySpreadConstraint) { c.MaxSkew = 0 }))), "topologySpreadConstraints[0].maxSkew"},
		{"no whenUnsatisfiable", pod(spreads(spread(func(c *TopologySpreadConstraint) { c.WhenUnsatisfiable = "" }))), "whenUnsatisfiable: Required"},
		{"other whenUnsatisfiable", pod(spreads(spread(func(c *TopologySpreadConstraint) { c.WhenUnsatisfiable = "Never" }))), "whenUnsatisfiable: Unsupported"},
		{"no topologyKey in spread", pod(spreads(spread(func(c *TopologySpreadConstraint) { c.TopologyKey = "" }))), "topologySpreadConstraints[0].topologyKey"},
		{"minDomains with ScheduleAnyway", pod(spreads(spread(func(c *TopologySpreadConstraint) {
			c.WhenUnsatisfiable, c.MinDomains = ScheduleAnyway, &one
		}))), "minDomains"},
		{"bad policy", pod(spreads(spread(func(c *TopologySpreadConstraint) { c.NodeTaintsPolicy = &bad }))), "nodeTaintsPolicy"},
		{"the same key and action twice", pod(spreads(spread(nil), spread(nil))), "topologySpreadConstraints[1]: Duplicate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.pod)
			err := Validate(tc.pod)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestPodAffinityTermSelector(t *testing.T) {
	owner := &Pod{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "db", "rev": "r2", "tenant": "a"}}}
	term := PodAffinityTerm{LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		MatchLabelKeys: []string{"rev", "absent"}, MismatchLabelKeys: []string{"tenant"}}
	sel, ok := term.PodSelector(owner)
	if !ok {
		t.Fatal("no selector")
	}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"app": "db", "rev": "r2", "tenant": "b"}, true},
		{map[string]string{"app": "db", "rev": "r1", "tenant": "b"}, false},
		{map[string]string{"app": "db", "rev": "r2", "tenant": "a"}, false},
		{map[string]string{"app": "web", "rev": "r2"}, false},
	} {
		if got := sel.Matches(tc.labels); got != tc.want {
			t.Errorf("%v: matches %v, want %v", tc.labels, got, tc.want)
		}
	}
	if _, ok := (&PodAffinityTerm{}).PodSelector(owner); ok {
		t.Error("a term without labelSelector selects pods")
	}
}
