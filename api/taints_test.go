package api

import "testing"

func TestToleratesTaint(t *testing.T) {
	taint := Taint{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}
	secs := int64(30)
	for _, tc := range []struct {
		name string
		tol  Toleration
		want bool
	}{
		{"equal key and value", Toleration{Key: "dedicated", Value: "db"}, true},
		{"explicit Equal", Toleration{Key: "dedicated", Operator: "Equal", Value: "db", Effect: TaintNoSchedule}, true},
		{"other value", Toleration{Key: "dedicated", Value: "web"}, false},
		{"exists ignores value", Toleration{Key: "dedicated", Operator: "Exists"}, true},
		{"empty key with Exists matches every key", Toleration{Operator: "Exists"}, true},
		{"other effect", Toleration{Key: "dedicated", Operator: "Exists", Effect: TaintNoExecute}, false},
		{"other key", Toleration{Key: "gpu", Operator: "Exists"}, false},
		{"unknown operator", Toleration{Key: "dedicated", Operator: "Lt", Value: "db"}, false},
		{"seconds do not matter here", Toleration{Key: "dedicated", Operator: "Exists", TolerationSeconds: &secs}, true},
	} {
		if got := tc.tol.ToleratesTaint(&taint); got != tc.want {
			t.Errorf("%s: ToleratesTaint = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUntoleratedTaintLooksOnlyAtTheEffectsAsked(t *testing.T) {
	taints := []Taint{
		{Key: "soft", Effect: TaintPreferNoSche},
		{Key: "a", Effect: TaintNoSchedule},
		{Key: "b", Effect: TaintNoExecute},
	}
	tols := []Toleration{{Key: "a", Operator: "Exists"}}
	if got := UntoleratedTaint(taints, tols, TaintNoSchedule); got != nil {
		t.Fatalf("NoSchedule: got %+v, want none (a is tolerated)", got)
	}
	if got := UntoleratedTaint(taints, tols, TaintNoSchedule, TaintNoExecute); got == nil || got.Key != "b" {
		t.Fatalf("NoSchedule+NoExecute: got %+v, want taint b", got)
	}
	if got := UntoleratedTaint(nil, nil, TaintNoExecute); got != nil {
		t.Fatalf("no taints: got %+v", got)
	}
}

func TestToleratesForever(t *testing.T) {
	secs := int64(300)
	for _, tc := range []struct {
		name string
		tols []Toleration
		want bool
	}{
		{"daemon pod's toleration", []Toleration{{Key: TaintUnreachable, Operator: "Exists", Effect: TaintNoExecute}}, true},
		{"any effect", []Toleration{{Key: TaintUnreachable, Operator: "Exists"}}, true},
		{"tolerate everything", []Toleration{{Operator: "Exists"}}, true},
		{"for a while only", []Toleration{{Key: TaintUnreachable, Operator: "Exists", TolerationSeconds: &secs}}, false},
		{"another key", []Toleration{{Key: TaintNotReady, Operator: "Exists"}}, false},
		{"empty key without Exists is no toleration", []Toleration{{}}, false},
		{"none", nil, false},
	} {
		if got := ToleratesForever(tc.tols, TaintUnreachable); got != tc.want {
			t.Errorf("%s: ToleratesForever = %v, want %v", tc.name, got, tc.want)
		}
	}
}
