package api

import (
	"strings"
	"testing"
)

func TestFieldSelectorMatchesTheFieldsKubernetesOffers(t *testing.T) {
	pod := &Pod{ObjectMeta: ObjectMeta{Name: "web-1", Namespace: "shop"},
		Spec: PodSpec{NodeName: "h2"}, Status: PodStatus{Phase: PodRunning}}
	ev := &Event{ObjectMeta: ObjectMeta{Name: "web-1.1", Namespace: "shop"},
		InvolvedObject: ObjectReference{Kind: "Pod", Name: "web-1", Namespace: "shop", UID: "u1"}, Type: EventWarning}
	for _, tc := range []struct {
		k    *Kind
		sel  string
		obj  Object
		want bool
	}{
		{KindPod, "metadata.name=web-1", pod, true},
		{KindPod, "metadata.name==web-2", pod, false},
		{KindPod, "metadata.name!=web-2,metadata.namespace=shop", pod, true},
		{KindPod, "spec.nodeName=h2,status.phase=Running", pod, true},
		{KindPod, "spec.nodeName=h2,status.phase!=Running", pod, false},
		{KindPod, "spec.nodeName=", pod, false},
		{KindEvent, "involvedObject.name=web-1,involvedObject.namespace=shop,involvedObject.kind=Pod,involvedObject.uid=u1", ev, true},
		{KindEvent, "involvedObject.uid=u2", ev, false},
		{KindEvent, "type=Warning", ev, true},
	} {
		sel, err := ParseFieldSelector(tc.k, tc.sel)
		if err != nil {
			t.Fatalf("%s: %v", tc.sel, err)
		}
		if got := sel.Matches(tc.obj); got != tc.want {
			t.Errorf("%s on %s: got %v, want %v", tc.sel, tc.obj.GetObjectMeta().Name, got, tc.want)
		}
	}
	if !(FieldSelector{}).Matches(pod) || !(FieldSelector{}).Empty() {
		t.Error("the zero selector must select everything")
	}
}

func TestFieldSelectorRefusesUnsupportedFieldsNamingThem(t *testing.T) {
	_, err := ParseFieldSelector(KindConfigMap, "spec.nodeName=h1")
	if err == nil || !strings.Contains(err.Error(), "field label not supported: spec.nodeName") ||
		!strings.Contains(err.Error(), "metadata.name") {
		t.Fatalf("got %v", err)
	}
	if _, err := ParseFieldSelector(KindNode, "metadata.namespace=x"); err == nil {
		t.Fatal("a cluster-scoped kind has no metadata.namespace field")
	}
	if _, err := ParseFieldSelector(KindPod, "metadata.name in (a,b)"); err == nil {
		t.Fatal("set operators are not field selectors")
	}
	sel, err := ParseFieldSelector(KindPod, "metadata.name=a\\,b")
	if err != nil || !sel.Matches(&Pod{ObjectMeta: ObjectMeta{Name: "a,b"}}) || sel.String() != `metadata.name=a\,b` {
		t.Fatalf("escaped value: %v %q", err, sel.String())
	}
}
