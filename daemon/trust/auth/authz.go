package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// Authorizer decides requests by the cluster's RBAC objects.
type Authorizer struct {
	cache *Cache
}

// NewAuthorizer decides by the cache's policy.
func NewAuthorizer(c *Cache) *Authorizer { return &Authorizer{cache: c} }

// Authorize decides one request.
func (a *Authorizer) Authorize(_ context.Context, u *api.UserInfo, req api.AccessRequest) (bool, string) {
	d := a.cache.Policy().Authorize(u, req)
	return d.Allowed, d.Reason
}

// AdmitWrite refuses writes that RBAC alone would let through but that
// would give the caller more than it has: a role with rules the caller does
// not hold, or a binding to such a role (Kubernetes' escalation check,
// unless the caller may "escalate" or "bind"); and any write by a node's
// identity but to its own Node (Kubernetes' NodeRestriction).
func (a *Authorizer) AdmitWrite(ctx context.Context, u *api.UserInfo, obj api.Object) error {
	if slices.Contains(u.Groups, api.GroupMasters) {
		return nil
	}
	if slices.Contains(u.Groups, identity.NodesGroup) {
		node, _ := strings.CutPrefix(u.Username, identity.NodeUserPrefix)
		if n, ok := obj.(*api.Node); ok && n.Name == node {
			return nil
		}
		k := api.KindOf(obj)
		return api.NewForbiddenBecause(k, obj.GetObjectMeta().Name, fmt.Errorf("node %q may only write its own Node object", node))
	}
	p := a.cache.Policy()
	switch o := obj.(type) {
	case *api.Role:
		return a.noEscalation(ctx, u, p, o.Namespace, "roles", o.Name, "escalate", o.Rules, api.KindRole)
	case *api.ClusterRole:
		return a.noEscalation(ctx, u, p, "", "clusterroles", o.Name, "escalate", o.Rules, api.KindClusterRole)
	case *api.RoleBinding:
		res := "roles"
		if o.RoleRef.Kind == "ClusterRole" {
			res = "clusterroles"
		}
		return a.noEscalationFor(ctx, u, p, o.Namespace, res, o.RoleRef.Name, "bind", api.KindRoleBinding, o.Name,
			func() ([]api.PolicyRule, error) { return a.roleRules(p, o.RoleRef, o.Namespace) })
	case *api.ClusterRoleBinding:
		return a.noEscalationFor(ctx, u, p, "", "clusterroles", o.RoleRef.Name, "bind", api.KindClusterRoleBinding, o.Name,
			func() ([]api.PolicyRule, error) { return a.roleRules(p, o.RoleRef, "") })
	}
	return nil
}

func (a *Authorizer) roleRules(p *Policy, ref api.RoleRef, ns string) ([]api.PolicyRule, error) {
	switch ref.Kind {
	case "ClusterRole":
		if r := p.clusterRoles[ref.Name]; r != nil {
			return r.Rules, nil
		}
	case "Role":
		if r := p.roles[ns+"/"+ref.Name]; r != nil {
			return r.Rules, nil
		}
	}
	return nil, fmt.Errorf("the %s %q does not exist (create the role before binding it)", ref.Kind, ref.Name)
}

// noEscalationFor is noEscalation for a binding: a caller who may "bind"
// the role needs nothing more (the role need not exist yet, as in
// Kubernetes); any other needs the role to exist and to hold its rules.
func (a *Authorizer) noEscalationFor(ctx context.Context, u *api.UserInfo, p *Policy, ns, resource, name, verb string, k *api.Kind, obj string,
	rules func() ([]api.PolicyRule, error)) error {
	special := api.AccessRequest{ResourceAttributes: &api.ResourceAttributes{Namespace: ns, Verb: verb,
		Group: api.RBACGroup, Resource: resource, Name: name}}
	if p.Authorize(u, special).Allowed {
		return nil
	}
	rs, err := rules()
	if err != nil {
		return api.NewForbiddenBecause(k, obj, err)
	}
	return a.noEscalation(ctx, u, p, ns, resource, name, verb, rs, k)
}

// noEscalation allows writing a role (or binding) with these rules only if
// the caller holds them all in that scope, or may use the special verb on
// that role.
func (a *Authorizer) noEscalation(_ context.Context, u *api.UserInfo, p *Policy, ns, resource, name, verb string, rules []api.PolicyRule, k *api.Kind) error {
	special := api.AccessRequest{ResourceAttributes: &api.ResourceAttributes{Namespace: ns, Verb: verb,
		Group: api.RBACGroup, Resource: resource, Name: name}}
	if p.Authorize(u, special).Allowed {
		return nil
	}
	missing := Covers(p.RulesFor(u, ns), rules)
	if len(missing) == 0 {
		return nil
	}
	var b strings.Builder
	for i, m := range missing {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(missing)-3)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describeRule(m))
	}
	scope := "cluster-wide"
	if ns != "" {
		scope = "in namespace " + ns
	}
	return api.NewForbiddenBecause(k, "", fmt.Errorf("user %q may not grant permissions it does not have %s: %s", u.Username, scope, b.String()))
}

func describeRule(r api.PolicyRule) string {
	if len(r.NonResourceURLs) > 0 {
		return r.Verbs[0] + " " + r.NonResourceURLs[0]
	}
	s := r.Verbs[0] + " " + r.Resources[0]
	if g := r.APIGroups[0]; g != "" {
		s += "." + g
	}
	if len(r.ResourceNames) > 0 {
		s += " " + r.ResourceNames[0]
	}
	return s
}
