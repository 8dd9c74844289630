package server

import (
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestRequestLabelsAgreeWithRequestAccess(t *testing.T) {
	rl := newResourceLabels()
	cases := []struct {
		method, target string
		resource       string
		stream         bool
	}{
		{"GET", "/api/v1/namespaces/default/pods", "pods", false},
		{"GET", "/api/v1/namespaces/default/pods/web-1", "pods", false},
		{"GET", "/api/v1/namespaces/default/pods?watch=true", "pods", true},
		{"GET", "/api/v1/pods?watch=1&labelSelector=a%3Db", "pods", true},
		{"GET", "/api/v1/namespaces/default/pods/web-1/log", "pods/log", true},
		{"POST", "/api/v1/namespaces/default/pods/web-1/exec", "pods/exec", true},
		{"GET", "/api/v1/namespaces/default/pods/web-1/exec", "pods/exec", true},
		{"PUT", "/api/v1/namespaces/default/pods/web-1/status", "pods/status", false},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", "deployments/scale", false},
		{"DELETE", "/apis/apps/v1/namespaces/ns/deployments", "deployments", false},
		{"DELETE", "/apis/apps/v1/namespaces/ns/deployments/d", "deployments", false},
		{"GET", "/api/v1/namespaces", "namespaces", false},
		{"GET", "/api/v1/namespaces/kube-system", "namespaces", false},
		{"PUT", "/api/v1/namespaces/kube-system/finalize", "namespaces/finalize", false},
		{"GET", "/api/v1/nodes/n1", "nodes", false},
		{"GET", "/api/v1/namespaces/default/widgets/w", "", false},                // no such resource
		{"GET", "/api/v1/namespaces/default/pods/web-1/something", "pods", false}, // unknown subresource
		{"GET", "/apis/nosuch.io/v1/things", "", false},
		{"GET", "/metrics", "", false},
		{"GET", "/api", "", false},
		{"GET", "/api/v1", "", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		verb, resource, stream := rl.label(r)
		if resource != c.resource || stream != c.stream {
			t.Errorf("%s %s: resource %q stream %v, want %q %v", c.method, c.target, resource, stream, c.resource, c.stream)
		}
		want := RequestAccess(r)
		wantVerb := ""
		if a := want.ResourceAttributes; a != nil {
			wantVerb = a.Verb
		} else {
			wantVerb = want.NonResourceAttributes.Verb
		}
		if verb != wantVerb {
			t.Errorf("%s %s: verb %q, RequestAccess says %q", c.method, c.target, verb, wantVerb)
		}
	}
}

func TestRequestLabelsAllocateNothing(t *testing.T) {
	rl := newResourceLabels()
	r := httptest.NewRequest("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", nil)
	var verb, resource string
	if n := testing.AllocsPerRun(100, func() { verb, resource, _ = rl.label(r) }); n != 0 {
		t.Fatalf("labelling a request allocates %v times", n)
	}
	if verb != api.VerbGet || resource != "deployments/scale" {
		t.Fatalf("got %q %q", verb, resource)
	}
}
