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
