package server_test

import (
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

// TestRequestAccessReadsPathsAsKubernetes checks the attributes a request
// is authorised by, read from its method and path.
func TestRequestAccessReadsPathsAsKubernetes(t *testing.T) {
	cases := []struct {
		method, url string
		want        api.ResourceAttributes
		path        string // a non-resource request
	}{
		{method: "GET", url: "/api/v1/pods", want: api.ResourceAttributes{Verb: "list", Version: "v1", Resource: "pods"}},
		{method: "GET", url: "/api/v1/pods?watch=true", want: api.ResourceAttributes{Verb: "watch", Version: "v1", Resource: "pods"}},
		{method: "GET", url: "/api/v1/namespaces/a/pods/p", want: api.ResourceAttributes{Verb: "get", Version: "v1", Resource: "pods", Namespace: "a", Name: "p"}},
		{method: "GET", url: "/api/v1/namespaces/a/pods/p/log", want: api.ResourceAttributes{Verb: "get", Version: "v1", Resource: "pods", Subresource: "log", Namespace: "a", Name: "p"}},
		{method: "GET", url: "/api/v1/namespaces/a/pods/p/exec?command=sh", want: api.ResourceAttributes{Verb: "create", Version: "v1", Resource: "pods", Subresource: "exec", Namespace: "a", Name: "p"}},
		{method: "GET", url: "/api/v1/namespaces/a/pods/p/attach?stdout=true", want: api.ResourceAttributes{Verb: "create", Version: "v1", Resource: "pods", Subresource: "attach", Namespace: "a", Name: "p"}},
		{method: "GET", url: "/api/v1/namespaces/a/pods/p/portforward", want: api.ResourceAttributes{Verb: "create", Version: "v1", Resource: "pods", Subresource: "portforward", Namespace: "a", Name: "p"}},
		{method: "POST", url: "/api/v1/namespaces/a/pods/p/portforward", want: api.ResourceAttributes{Verb: "create", Version: "v1", Resource: "pods", Subresource: "portforward", Namespace: "a", Name: "p"}},
		{method: "POST", url: "/apis/apps/v1/namespaces/a/deployments", want: api.ResourceAttributes{Verb: "create", Group: "apps", Version: "v1", Resource: "deployments", Namespace: "a"}},
		{method: "PUT", url: "/apis/apps/v1/namespaces/a/deployments/web/scale", want: api.ResourceAttributes{Verb: "update", Group: "apps", Version: "v1", Resource: "deployments", Subresource: "scale", Namespace: "a", Name: "web"}},
		{method: "PATCH", url: "/api/v1/nodes/h1", want: api.ResourceAttributes{Verb: "patch", Version: "v1", Resource: "nodes", Name: "h1"}},
		{method: "DELETE", url: "/api/v1/namespaces/a/configmaps", want: api.ResourceAttributes{Verb: "deletecollection", Version: "v1", Resource: "configmaps", Namespace: "a"}},
		{method: "DELETE", url: "/api/v1/namespaces/a/configmaps/c", want: api.ResourceAttributes{Verb: "delete", Version: "v1", Resource: "configmaps", Namespace: "a", Name: "c"}},
		// A namespace is in its own namespace; its status is a subresource.
		{method: "GET", url: "/api/v1/namespaces/a", want: api.ResourceAttributes{Verb: "get", Version: "v1", Resource: "namespaces", Namespace: "a", Name: "a"}},
		{method: "PUT", url: "/api/v1/namespaces/a/status", want: api.ResourceAttributes{Verb: "update", Version: "v1", Resource: "namespaces", Subresource: "status", Namespace: "a", Name: "a"}},
		{method: "GET", url: "/shoal/v1/members", path: "/shoal/v1/members"},
		{method: "POST", url: "/shoal/v1/join-token/rotate", path: "/shoal/v1/join-token/rotate"},
		{method: "GET", url: "/api", path: "/api"},
	}
	for _, c := range cases {
		got := server.RequestAccess(httptest.NewRequest(c.method, c.url, nil))
		if c.path != "" {
			if got.NonResourceAttributes == nil || got.NonResourceAttributes.Path != c.path {
				t.Errorf("%s %s: %+v, want the path %s", c.method, c.url, got, c.path)
			}
			continue
		}
		if got.ResourceAttributes == nil || *got.ResourceAttributes != c.want {
			t.Errorf("%s %s: %+v, want %+v", c.method, c.url, got.ResourceAttributes, c.want)
		}
	}
}
