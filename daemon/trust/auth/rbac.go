package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Policy is an immutable snapshot of the cluster's roles and bindings,
// indexed for evaluation.
type Policy struct {
	clusterRoles        map[string]*api.ClusterRole
	roles               map[string]*api.Role // "<ns>/<name>"
	clusterRoleBindings []*api.ClusterRoleBinding
	roleBindings        map[string][]*api.RoleBinding // by namespace
}

// NewPolicy indexes roles and bindings.
func NewPolicy(crs []*api.ClusterRole, crbs []*api.ClusterRoleBinding, rs []*api.Role, rbs []*api.RoleBinding) *Policy {
	p := &Policy{clusterRoles: map[string]*api.ClusterRole{}, roles: map[string]*api.Role{},
		clusterRoleBindings: crbs, roleBindings: map[string][]*api.RoleBinding{}}
	for _, r := range crs {
		p.clusterRoles[r.Name] = r
	}
	for _, r := range rs {
		p.roles[r.Namespace+"/"+r.Name] = r
	}
	for _, b := range rbs {
		p.roleBindings[b.Namespace] = append(p.roleBindings[b.Namespace], b)
	}
	return p
}

// Decision is the answer to one access request.
type Decision struct {
	Allowed bool
	// Reason says which binding allowed it, or why nothing did.
	Reason string
}

// Authorize decides one request the way Kubernetes' RBAC does: allowed if
// the user is in system:masters, or if any rule of a role bound to the
// user (cluster-wide, or in the request's namespace) matches.
func (p *Policy) Authorize(u *api.UserInfo, req api.AccessRequest) Decision {
	if slices.Contains(u.Groups, api.GroupMasters) {
		return Decision{Allowed: true, Reason: "member of " + api.GroupMasters}
	}
	match := func(r api.PolicyRule) bool {
		if req.ResourceAttributes != nil {
			return ruleAllowsResource(r, req.ResourceAttributes)
		}
		if req.NonResourceAttributes != nil {
			return ruleAllowsPath(r, req.NonResourceAttributes)
		}
		return false
	}
	var reason string
	p.visit(u, namespaceOf(req), func(src source, r api.PolicyRule) bool {
		if match(r) {
			reason = "allowed by " + src.String()
			return false
		}
		return true
	})
	if reason != "" {
		return Decision{Allowed: true, Reason: reason}
	}
	return Decision{Reason: "no role bound to the user allows it"}
}

// RulesFor returns every rule that applies to u in namespace ns ("" for
// cluster-wide bindings only).
func (p *Policy) RulesFor(u *api.UserInfo, ns string) []api.PolicyRule {
	var out []api.PolicyRule
	p.visit(u, ns, func(_ source, r api.PolicyRule) bool {
		out = append(out, r)
		return true
	})
	return out
}

// source names the binding and role a rule came from; it is made into
// words only when a rule matched.
type source struct {
	bindingKind, binding, roleKind, role, ns string
}

func (s source) String() string {
	if s.ns == "" {
		return fmt.Sprintf("%s %q of %s %q", s.bindingKind, s.binding, s.roleKind, s.role)
	}
	return fmt.Sprintf("%s %q of %s %q in namespace %q", s.bindingKind, s.binding, s.roleKind, s.role, s.ns)
}

// visit calls fn with each rule granted to u in namespace ns, until fn
// returns false.
func (p *Policy) visit(u *api.UserInfo, ns string, fn func(src source, r api.PolicyRule) bool) {
	for _, b := range p.clusterRoleBindings {
		if !bindsUser(b.Subjects, u, "") {
			continue
		}
		if cr := p.clusterRoles[b.RoleRef.Name]; cr != nil {
			for _, r := range cr.Rules {
				if !fn(source{"ClusterRoleBinding", b.Name, "ClusterRole", cr.Name, ""}, r) {
					return
				}
			}
		}
	}
	if ns == "" {
		return
	}
	for _, b := range p.roleBindings[ns] {
		if !bindsUser(b.Subjects, u, ns) {
			continue
		}
		var rules []api.PolicyRule
		switch b.RoleRef.Kind {
		case "ClusterRole":
			if cr := p.clusterRoles[b.RoleRef.Name]; cr != nil {
				rules = cr.Rules
			}
		case "Role":
			if r := p.roles[ns+"/"+b.RoleRef.Name]; r != nil {
				rules = r.Rules
			}
		}
		for _, r := range rules {
			if !fn(source{"RoleBinding", b.Name, b.RoleRef.Kind, b.RoleRef.Name, ns}, r) {
				return
			}
		}
	}
}

func namespaceOf(req api.AccessRequest) string {
	if req.ResourceAttributes != nil {
		return req.ResourceAttributes.Namespace
	}
	return ""
}

// ServiceAccountUser is the user name of a service account.
func ServiceAccountUser(ns, name string) string { return "system:serviceaccount:" + ns + ":" + name }

func bindsUser(subjects []api.Subject, u *api.UserInfo, ns string) bool {
	for _, s := range subjects {
		switch s.Kind {
		case api.SubjectUser:
			if s.Name == u.Username {
				return true
			}
		case api.SubjectGroup:
			if slices.Contains(u.Groups, s.Name) {
				return true
			}
		case api.SubjectServiceAccount:
			sns := s.Namespace
			if sns == "" {
				sns = ns
			}
			if ServiceAccountUser(sns, s.Name) == u.Username {
				return true
			}
		}
	}
	return false
}

func has(list []string, v string) bool {
	return slices.Contains(list, v) || slices.Contains(list, "*")
}

func ruleAllowsResource(r api.PolicyRule, a *api.ResourceAttributes) bool {
	if !has(r.Verbs, a.Verb) || !has(r.APIGroups, a.Group) {
		return false
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	resOK := false
	for _, res := range r.Resources {
		switch {
		case res == api.ResourceAll, res == combined:
			resOK = true
		case a.Subresource != "" && res == "*/"+a.Subresource:
			resOK = true
		}
	}
	if !resOK {
		return false
	}
	if len(r.ResourceNames) == 0 {
		return true
	}
	return a.Name != "" && slices.Contains(r.ResourceNames, a.Name)
}

func ruleAllowsPath(r api.PolicyRule, a *api.NonResourceAttributes) bool {
	if !has(r.Verbs, a.Verb) {
		return false
	}
	for _, u := range r.NonResourceURLs {
		if u == "*" || u == a.Path || strings.HasSuffix(u, "*") && strings.HasPrefix(a.Path, strings.TrimSuffix(u, "*")) {
			return true
		}
	}
	return false
}

// Covers reports which of the rules wanted are not granted by the rules
// held: a user may only hand out permissions it has (Kubernetes' escalation
// check). Each wanted rule is split into single verb/group/resource/name
// grants, each of which some held rule must allow.
func Covers(held, wanted []api.PolicyRule) (missing []api.PolicyRule) {
	allowed := func(g api.PolicyRule) bool {
		for _, h := range held {
			if ruleCovers(h, g) {
				return true
			}
		}
		return false
	}
	for _, w := range wanted {
		for _, g := range split(w) {
			if !allowed(g) {
				missing = append(missing, g)
			}
		}
	}
	return missing
}

// split breaks a rule into one rule per verb and group and resource (and
// name, and URL).
func split(r api.PolicyRule) []api.PolicyRule {
	var out []api.PolicyRule
	if len(r.NonResourceURLs) > 0 {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				out = append(out, api.PolicyRule{Verbs: []string{v}, NonResourceURLs: []string{u}})
			}
		}
		return out
	}
	names := r.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, v := range r.Verbs {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					one := api.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}}
					if n != "" {
						one.ResourceNames = []string{n}
					}
					out = append(out, one)
				}
			}
		}
	}
	return out
}

// ruleCovers reports whether held grants everything the single grant g does.
func ruleCovers(held, g api.PolicyRule) bool {
	if len(g.NonResourceURLs) > 0 {
		if !has(held.Verbs, g.Verbs[0]) {
			return false
		}
		u := g.NonResourceURLs[0]
		for _, h := range held.NonResourceURLs {
			if h == "*" || h == u || strings.HasSuffix(h, "*") && strings.HasPrefix(strings.TrimSuffix(u, "*"), strings.TrimSuffix(h, "*")) {
				return true
			}
		}
		return false
	}
	if !has(held.Verbs, g.Verbs[0]) || !has(held.APIGroups, g.APIGroups[0]) {
		return false
	}
	res := g.Resources[0]
	resOK := false
	for _, h := range held.Resources {
		_, sub, isSub := strings.Cut(res, "/")
		if h == "*" || h == res || isSub && h == "*/"+sub {
			resOK = true
		}
	}
	if !resOK {
		return false
	}
	if len(held.ResourceNames) == 0 {
		return true
	}
	return len(g.ResourceNames) == 1 && slices.Contains(held.ResourceNames, g.ResourceNames[0])
}
