package auth

import (
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// /metrics: view bound cluster-wide and the shoal:metrics role may read
// it; a role bound in one namespace, or none, may not; shoal:metrics may
// read nothing else.
func TestMetricsAreReadByViewAndTheMetricsRoleOnly(t *testing.T) {
	crs := BuiltinClusterRoles()
	crbs := append(BuiltinClusterRoleBindings(), crb("viewer", RoleView, userSubject("viewer")),
		crb("prometheus", RoleMetrics, userSubject("prometheus")))
	rbs := []*api.RoleBinding{rb("a", "owner", "ClusterRole", RoleAdmin, userSubject("owner"))}
	p := NewPolicy(crs, crbs, nil, rbs)
	for _, c := range []struct {
		who  string
		req  api.AccessRequest
		want bool
	}{
		{"viewer", path("get", "/metrics"), true},
		{"prometheus", path("get", "/metrics"), true},
		{"prometheus", path("post", "/metrics"), false},
		{"prometheus", res("list", "", "pods", "", "", ""), false},
		{"prometheus", res("get", "", "pods", "", "a", "p"), false},
		{"owner", path("get", "/metrics"), false},
		{"someone", path("get", "/metrics"), false},
	} {
		if got := p.Authorize(user(c.who), c.req).Allowed; got != c.want {
			t.Errorf("%s %+v %+v: allowed %v, want %v", c.who, c.req.ResourceAttributes, c.req.NonResourceAttributes, got, c.want)
		}
	}
}
