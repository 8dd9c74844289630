package api

import (
	"strings"
	"testing"
)

func TestFieldSelector(t *testing.T) {
	pod := &Pod{ObjectMeta: ObjectMeta{Name: "web-1", Namespace: "shop"}, Spec: PodSpec{NodeName: "h2"}, Status: PodStatus{Phase: PodRunning}}
	cm := &ConfigMap{ObjectMeta: ObjectMeta{Name: "web-1", Namespace: "shop"}}
	for text, want := range map[string][2]bool{ // pod, configmap
		"":                     {true, true},
		"metadata.name=web-1":  {true, true},
		"metadata.name==web-1": {true, true},
		"metadata.name!=web-1": {false, false},
		"metadata.namespace=shop,metadata.name=web-2": {false, false},
		"spec.nodeName=h2":                            {true, false},
		"spec.nodeName!=h1":                           {true, false},
		"status.phase=Running":                        {true, false},
	} {
		sel, err := ParseFieldSelector(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := [2]bool{sel.Matches(pod), sel.Matches(cm)}; got != want {
			t.Errorf("%q matches pod, configmap: %v, want %v", text, got, want)
		}
	}
	for _, text := range []string{"spec.replicas=1", "metadata.name", "labels.app=web"} {
		if _, err := ParseFieldSelector(text); err == nil || !strings.Contains(err.Error(), strings.SplitN(text, "=", 2)[0]) {
			t.Errorf("%q: want an error naming it, got %v", text, err)
		}
	}
}
