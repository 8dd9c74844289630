package auth

import (
	"github.com/shoal-dev/shoal/api"
)

// Names of the built-in roles and bindings every agent makes sure exist.
const (
	RoleClusterAdmin = "cluster-admin"
	RoleAdmin        = "admin"
	RoleEdit         = "edit"
	RoleView         = "view"
	// RoleBasicUser lets every authenticated user ask who it is, what it
	// may do, and read the cluster's public information.
	RoleBasicUser = "shoal:basic-user"
	// BindingAdmin grants cluster-admin to the founding admin token's user.
	BindingAdmin = "shoal:admin"
	// AdminUser is the user of the admin credential the first agent writes.
	AdminUser = "admin"
	// RoleMetrics may read the agents' /metrics and nothing else, for a
	// Prometheus server's token (as Kubernetes' system:monitoring).
	RoleMetrics = "shoal:metrics"
)

// LabelBootstrap marks the objects the agent created itself.
const LabelBootstrap = "shoal.io/bootstrapping"

var (
	readVerbs  = []string{api.VerbGet, api.VerbList, api.VerbWatch}
	writeVerbs = []string{api.VerbCreate, api.VerbUpdate, api.VerbPatch, api.VerbDelete, api.VerbDeleteCollection}
	allVerbs   = append(append([]string{}, readVerbs...), writeVerbs...)
)

// rule makes one rule.
func rule(verbs []string, group string, resources ...string) api.PolicyRule {
	return api.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

// Namespaced resources a namespace's users work with, by group.
var (
	coreWorkload  = []string{"pods", "services", "endpoints", "configmaps", "persistentvolumeclaims", "serviceaccounts"}
	appsWorkload  = []string{"deployments", "replicasets", "daemonsets", "statefulsets"}
	batchWorkload = []string{"jobs", "cronjobs"}
	netWorkload   = []string{"ingresses"}
)

// metricsRule reads the agents' Prometheus metrics: a non-resource URL,
// granted only through a ClusterRoleBinding.
var metricsRule = api.PolicyRule{Verbs: []string{api.VerbGet}, NonResourceURLs: []string{"/metrics"}}

// viewRules read everything in a namespace but Secrets and roles (as
// Kubernetes' view role), plus the pods' logs and processes, and, bound cluster-wide,
// nodes, namespaces and the agents' metrics.
func viewRules() []api.PolicyRule {
	return []api.PolicyRule{
		rule(readVerbs, "", append(append([]string{}, coreWorkload...), "pods/log", "pods/top", "pods/status", "events", "namespaces", "nodes")...),
		rule(readVerbs, "apps", append(append([]string{}, appsWorkload...), "deployments/scale", "replicasets/scale", "statefulsets/scale",
			"deployments/status", "statefulsets/status", "controllerrevisions")...),
		rule(readVerbs, "batch", batchWorkload...),
		rule(readVerbs, "networking.k8s.io", netWorkload...),
		rule(readVerbs, "policy", "poddisruptionbudgets"),
		rule(readVerbs, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(readVerbs, "metrics.k8s.io", "pods", "nodes"),
		metricsRule,
	}
}

// editRules add writes of the workloads, Secrets, exec, and scaling.
func editRules() []api.PolicyRule {
	rules := viewRules()
	return append(rules,
		rule(allVerbs, "", append(append([]string{}, coreWorkload...), "secrets")...),
		rule([]string{api.VerbCreate, api.VerbGet}, "", "pods/exec", "pods/attach", "pods/portforward"),
		rule(allVerbs, "apps", append(append([]string{}, appsWorkload...), "deployments/scale", "replicasets/scale", "statefulsets/scale")...),
		rule(allVerbs, "batch", batchWorkload...),
		rule(allVerbs, "networking.k8s.io", netWorkload...),
		rule(allVerbs, "policy", "poddisruptionbudgets"),
		rule(allVerbs, "autoscaling", "horizontalpodautoscalers"),
		rule([]string{api.VerbCreate}, "", "pods/eviction"),
		rule([]string{api.VerbCreate, api.VerbPatch, api.VerbUpdate}, "", "events"),
	)
}

// adminRules add the namespace's roles and bindings.
func adminRules() []api.PolicyRule {
	return append(editRules(), rule(allVerbs, api.RBACGroup, "roles", "rolebindings"))
}

// BuiltinClusterRoles are the roles every cluster has.
func BuiltinClusterRoles() []*api.ClusterRole {
	mk := func(name string, rules []api.PolicyRule) *api.ClusterRole {
		return &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{LabelBootstrap: "rbac-defaults"}}, Rules: rules}
	}
	return []*api.ClusterRole{
		mk(RoleClusterAdmin, []api.PolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
		}),
		mk(RoleAdmin, adminRules()),
		mk(RoleEdit, editRules()),
		mk(RoleView, viewRules()),
		mk(RoleMetrics, []api.PolicyRule{metricsRule}),
		mk(RoleBasicUser, []api.PolicyRule{
			rule([]string{api.VerbCreate}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{api.VerbCreate}, "authentication.k8s.io", "selfsubjectreviews"),
			// Discovery and OpenAPI, as Kubernetes' system:discovery role.
			{Verbs: []string{api.VerbGet}, NonResourceURLs: []string{"/api", "/api/*", "/apis", "/apis/*", "/version",
				"/openapi", "/openapi/*", "/shoal/v1/members", "/shoal/v1/agent"}},
		}),
	}
}

// BuiltinClusterRoleBindings grant the basic-user role to every
// authenticated user.
func BuiltinClusterRoleBindings() []*api.ClusterRoleBinding {
	return []*api.ClusterRoleBinding{{
		ObjectMeta: api.ObjectMeta{Name: RoleBasicUser, Labels: map[string]string{LabelBootstrap: "rbac-defaults"}},
		Subjects:   []api.Subject{{Kind: api.SubjectGroup, APIGroup: api.RBACGroup, Name: api.GroupAuthenticated}},
		RoleRef:    api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: RoleBasicUser},
	}}
}

// AdminBinding grants cluster-admin to the admin user.
func AdminBinding() *api.ClusterRoleBinding {
	return &api.ClusterRoleBinding{
		ObjectMeta: api.ObjectMeta{Name: BindingAdmin, Labels: map[string]string{LabelBootstrap: "rbac-defaults"}},
		Subjects:   []api.Subject{{Kind: api.SubjectUser, APIGroup: api.RBACGroup, Name: AdminUser}},
		RoleRef:    api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: RoleClusterAdmin},
	}
}
