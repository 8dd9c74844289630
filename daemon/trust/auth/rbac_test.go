package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func res(verb, group, resource, sub, ns, name string) api.AccessRequest {
	return api.AccessRequest{ResourceAttributes: &api.ResourceAttributes{Verb: verb, Group: group, Resource: resource,
		Subresource: sub, Namespace: ns, Name: name}}
}

func path(verb, p string) api.AccessRequest {
	return api.AccessRequest{NonResourceAttributes: &api.NonResourceAttributes{Verb: verb, Path: p}}
}

func user(name string, groups ...string) *api.UserInfo {
	return &api.UserInfo{Username: name, Groups: append(groups, api.GroupAuthenticated)}
}

func crb(name, role string, subjects ...api.Subject) *api.ClusterRoleBinding {
	return &api.ClusterRoleBinding{ObjectMeta: api.ObjectMeta{Name: name}, Subjects: subjects,
		RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: role}}
}

func rb(ns, name, kind, role string, subjects ...api.Subject) *api.RoleBinding {
	return &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Subjects: subjects,
		RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: kind, Name: role}}
}

func userSubject(name string) api.Subject {
	return api.Subject{Kind: api.SubjectUser, APIGroup: api.RBACGroup, Name: name}
}

// testPolicy: the built-in roles, viewer bound to view cluster-wide, dev
// to edit in namespace a, owner to admin in a, a Role in b granting one
// ConfigMap by name, and the basic-user binding.
func testPolicy() *Policy {
	crs := BuiltinClusterRoles()
	crbs := append(BuiltinClusterRoleBindings(), crb("viewer", RoleView, userSubject("viewer")), AdminBinding())
	roles := []*api.Role{{ObjectMeta: api.ObjectMeta{Name: "one-cm", Namespace: "b"},
		Rules: []api.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"settings"}}}}}
	rbs := []*api.RoleBinding{
		rb("a", "dev", "ClusterRole", RoleEdit, userSubject("dev")),
		rb("a", "owner", "ClusterRole", RoleAdmin, userSubject("owner")),
		rb("b", "reader", "Role", "one-cm", api.Subject{Kind: api.SubjectGroup, APIGroup: api.RBACGroup, Name: "readers"}),
		rb("b", "robot", "ClusterRole", RoleView, api.Subject{Kind: api.SubjectServiceAccount, Name: "robot"}),
	}
	return NewPolicy(crs, crbs, roles, rbs)
}

func TestBuiltinRolesDecideAsKubernetes(t *testing.T) {
	p := testPolicy()
	cases := []struct {
		who  *api.UserInfo
		req  api.AccessRequest
		want bool
	}{
		// view: reads everywhere but Secrets; writes nothing.
		{user("viewer"), res("list", "", "pods", "", "", ""), true},
		{user("viewer"), res("get", "", "pods", "log", "x", "p"), true},
		{user("viewer"), res("watch", "apps", "deployments", "", "x", ""), true},
		{user("viewer"), res("get", "", "nodes", "", "", "h1"), true},
		{user("viewer"), res("get", "", "secrets", "", "x", "s"), false},
		{user("viewer"), res("create", "", "pods", "", "x", ""), false},
		{user("viewer"), res("create", "", "pods", "exec", "x", "p"), false},
		{user("viewer"), res("list", "rbac.authorization.k8s.io", "roles", "", "x", ""), false},
		{user("viewer"), res("list", "shoal.io", "tokens", "", "", ""), false},
		// edit in a: writes there (Secrets too, exec), nothing elsewhere, no RBAC.
		{user("dev"), res("create", "apps", "deployments", "", "a", ""), true},
		{user("dev"), res("get", "", "secrets", "", "a", "s"), true},
		{user("dev"), res("create", "", "pods", "exec", "a", "p"), true},
		{user("dev"), res("update", "apps", "deployments", "scale", "a", "web"), true},
		{user("dev"), res("create", "apps", "deployments", "", "b", ""), false},
		{user("dev"), res("list", "", "pods", "", "", ""), false}, // all namespaces need a cluster-wide grant
		{user("dev"), res("create", "rbac.authorization.k8s.io", "rolebindings", "", "a", ""), false},
		// admin in a: RBAC in a, not cluster-wide.
		{user("owner"), res("create", "rbac.authorization.k8s.io", "rolebindings", "", "a", ""), true},
		{user("owner"), res("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""), false},
		{user("owner"), res("update", "", "namespaces", "", "a", "a"), false},
		// cluster-admin, masters, basic user.
		{user("admin"), res("delete", "", "nodes", "", "", "h1"), true},
		{user("admin"), path("post", "/shoal/v1/join-token/rotate"), true},
		{user("someone", api.GroupMasters), res("delete", "anything", "things", "", "x", "y"), true},
		{user("someone"), path("get", "/shoal/v1/members"), true},
		{user("someone"), path("get", "/shoal/v1/join-token"), false},
		// discovery and OpenAPI: every authenticated user (Kubernetes' system:discovery).
		{user("someone"), path("get", "/api"), true},
		{user("someone"), path("get", "/api/v1"), true},
		{user("someone"), path("get", "/apis"), true},
		{user("someone"), path("get", "/apis/apps/v1"), true},
		{user("someone"), path("get", "/openapi/v2"), true},
		{user("someone"), path("get", "/openapi/v3"), true},
		{user("someone"), path("get", "/openapi/v3/apis/apps/v1"), true},
		{user("someone"), path("post", "/api"), false},
		{user("someone"), res("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{user("someone"), res("get", "", "pods", "", "a", "p"), false},
		// resourceNames, groups, service accounts.
		{user("x", "readers"), res("get", "", "configmaps", "", "b", "settings"), true},
		{user("x", "readers"), res("get", "", "configmaps", "", "b", "other"), false},
		{user("x", "readers"), res("list", "", "configmaps", "", "b", ""), false},
		{user(ServiceAccountUser("b", "robot")), res("list", "", "pods", "", "b", ""), true},
		{user(ServiceAccountUser("c", "robot")), res("list", "", "pods", "", "b", ""), false},
	}
	for _, c := range cases {
		got := p.Authorize(c.who, c.req)
		if got.Allowed != c.want {
			t.Errorf("%s %+v %+v: allowed %v (%s), want %v", c.who.Username, c.req.ResourceAttributes, c.req.NonResourceAttributes,
				got.Allowed, got.Reason, c.want)
		}
		if got.Allowed && !strings.HasPrefix(got.Reason, "allowed by") && !strings.Contains(got.Reason, api.GroupMasters) {
			t.Errorf("reason %q names no binding", got.Reason)
		}
	}
}

func TestCoversFindsWhatAWriterLacks(t *testing.T) {
	p := testPolicy()
	editRules := p.RulesFor(user("dev"), "a")
	if m := Covers(editRules, []api.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}}); len(m) != 0 {
		t.Fatalf("edit lacks reading pods: %v", m)
	}
	missing := Covers(editRules, []api.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{""}, Resources: []string{"nodes", "pods"}}})
	if len(missing) != 1 || missing[0].Resources[0] != "nodes" {
		t.Fatalf("want only update nodes missing, got %v", missing)
	}
	if m := Covers(editRules, []api.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}); len(m) == 0 {
		t.Fatal("edit covers *")
	}
	admin := p.RulesFor(user("admin"), "")
	if m := Covers(admin, []api.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}); len(m) != 0 {
		t.Fatalf("cluster-admin lacks %v", m)
	}
	// A name-restricted grant covers that name only.
	named := []api.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"a"}}}
	if m := Covers(named, []api.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"a"}}}); len(m) != 0 {
		t.Fatalf("named grant: %v", m)
	}
	if m := Covers(named, []api.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}); len(m) == 0 {
		t.Fatal("a grant on one name covered every name")
	}
}

// staticCache is a Cache with a fixed snapshot, for the authorizer.
func staticCache(p *Policy, tokens ...*api.Token) *Cache {
	c := &Cache{src: storeOf()}
	m := map[string]*api.Token{}
	for _, t := range tokens {
		m[t.Name] = t
	}
	c.cur.Store(&snapshot{policy: p, tokens: m})
	return c
}

// tokenStore is a store holding tokens only, for the cache's reads of
// what its snapshot does not have yet.
type tokenStore map[string]*api.Token

func storeOf(tokens ...*api.Token) tokenStore {
	s := tokenStore{}
	for _, t := range tokens {
		s[t.Name] = t
	}
	return s
}

func (s tokenStore) List(context.Context, *api.Kind, string, api.Selector) ([]api.Object, string, error) {
	return nil, "", nil
}

func (s tokenStore) Watch(context.Context, *api.Kind, string, api.ListOptions) (<-chan api.WatchEvent, error) {
	return nil, errors.New("not watched")
}

func (s tokenStore) Get(_ context.Context, k *api.Kind, _, name string) (api.Object, error) {
	if t, ok := s[name]; ok && k == api.KindToken {
		return t, nil
	}
	return nil, api.NewNotFound(k, name)
}

func TestAdmitWriteRefusesEscalationAndOtherNodes(t *testing.T) {
	a := NewAuthorizer(staticCache(testPolicy()))
	ctx := context.Background()
	owner := user("owner")
	bind := func(role string) *api.RoleBinding { return rb("a", "x", "ClusterRole", role, userSubject("eve")) }
	if err := a.AdmitWrite(ctx, owner, bind(RoleEdit)); err != nil {
		t.Fatalf("admin of a binding edit in a: %v", err)
	}
	err := a.AdmitWrite(ctx, owner, bind(RoleClusterAdmin))
	if !api.IsForbidden(err) || !strings.Contains(err.Error(), "may not grant permissions it does not have") {
		t.Fatalf("admin of a binding cluster-admin: %v", err)
	}
	if err := a.AdmitWrite(ctx, owner, bind("no-such-role")); !api.IsForbidden(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a binding to a missing role: %v", err)
	}
	// A cluster administrator (who may bind anything) binds a role that
	// does not exist yet, as in Kubernetes: manifests list bindings and
	// their roles in any order.
	later := &api.ClusterRoleBinding{ObjectMeta: api.ObjectMeta{Name: "later"},
		RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: "made-later"}, Subjects: []api.Subject{userSubject("eve")}}
	if err := a.AdmitWrite(ctx, user("admin"), later); err != nil {
		t.Fatalf("cluster-admin binding a role made later: %v", err)
	}
	role := &api.Role{ObjectMeta: api.ObjectMeta{Name: "r", Namespace: "a"},
		Rules: []api.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}}}
	if err := a.AdmitWrite(ctx, owner, role); err != nil {
		t.Fatalf("admin of a writing a role it holds: %v", err)
	}
	role.Namespace = "b"
	if err := a.AdmitWrite(ctx, owner, role); !api.IsForbidden(err) {
		t.Fatalf("admin of a writing a role in b: %v", err)
	}
	if err := a.AdmitWrite(ctx, user("admin"), crb("y", RoleClusterAdmin, userSubject("eve"))); err != nil {
		t.Fatalf("cluster-admin binding cluster-admin: %v", err)
	}
	node := user("system:node:h1", "system:nodes")
	if err := a.AdmitWrite(ctx, node, &api.Node{ObjectMeta: api.ObjectMeta{Name: "h1"}}); err != nil {
		t.Fatalf("a node writing its own Node: %v", err)
	}
	if err := a.AdmitWrite(ctx, node, &api.Node{ObjectMeta: api.ObjectMeta{Name: "h2"}}); !api.IsForbidden(err) {
		t.Fatalf("a node writing another Node: %v", err)
	}
	if err := a.AdmitWrite(ctx, node, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "a"}}); !api.IsForbidden(err) {
		t.Fatalf("a node writing a ConfigMap: %v", err)
	}
}
