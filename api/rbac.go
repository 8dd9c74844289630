package api

import (
	"fmt"
	"regexp"
	"strings"
)

// RBACGroup is the API group of roles and bindings, as in Kubernetes.
const RBACGroup = "rbac.authorization.k8s.io"

// Verbs of the API, as Kubernetes names them.
const (
	VerbGet              = "get"
	VerbList             = "list"
	VerbWatch            = "watch"
	VerbCreate           = "create"
	VerbUpdate           = "update"
	VerbPatch            = "patch"
	VerbDelete           = "delete"
	VerbDeleteCollection = "deletecollection"
	// VerbAll matches every verb in a rule; ResourceAll every resource and
	// group.
	VerbAll     = "*"
	ResourceAll = "*"
)

// PolicyRule grants verbs on resources (or on non-resource URLs).
type PolicyRule struct {
	Verbs           []string `json:"verbs"`
	APIGroups       []string `json:"apiGroups,omitempty"`
	Resources       []string `json:"resources,omitempty"`
	ResourceNames   []string `json:"resourceNames,omitempty"`
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
}

// Role grants rules within one namespace.
type Role struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Rules      []PolicyRule `json:"rules"`
}

// ClusterRole grants rules in every namespace (through a
// ClusterRoleBinding) or in one (through a RoleBinding).
type ClusterRole struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Rules      []PolicyRule `json:"rules"`
}

// Subject is who a binding grants a role to.
type Subject struct {
	Kind      string `json:"kind"` // User, Group or ServiceAccount
	APIGroup  string `json:"apiGroup,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// Kinds of subjects.
const (
	SubjectUser           = "User"
	SubjectGroup          = "Group"
	SubjectServiceAccount = "ServiceAccount"
)

// RoleRef names the role a binding grants.
type RoleRef struct {
	APIGroup string `json:"apiGroup"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
}

// RoleBinding grants a Role or ClusterRole within its namespace.
type RoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Subjects   []Subject `json:"subjects,omitempty"`
	RoleRef    RoleRef   `json:"roleRef"`
}

// ClusterRoleBinding grants a ClusterRole in every namespace.
type ClusterRoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Subjects   []Subject `json:"subjects,omitempty"`
	RoleRef    RoleRef   `json:"roleRef"`
}

// Token is a bearer credential of the API: the token "<name>.<secret>"
// authenticates as the user <name>. Only the secret's hash is stored.
type Token struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       TokenSpec `json:"spec"`
}

// TokenSpec describes a token.
type TokenSpec struct {
	// Hash is "sha256:" and the hex SHA-256 of the token's secret.
	Hash string `json:"hash"`
	// ExpirationTimestamp ends the token's validity; none: it never expires.
	ExpirationTimestamp *Time `json:"expirationTimestamp,omitempty"`
	// Description says what the token is for.
	Description string `json:"description,omitempty"`
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now Time) bool {
	e := t.Spec.ExpirationTimestamp
	return e != nil && !now.Time.Before(e.Time)
}

// UserInfo is an authenticated caller, as authentication.k8s.io names it.
type UserInfo struct {
	Username string   `json:"username,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Well-known groups.
const (
	GroupAuthenticated = "system:authenticated"
	// GroupMasters is always allowed everything, as in Kubernetes.
	GroupMasters = "system:masters"
)

// ResourceAttributes describe a request on a resource.
type ResourceAttributes struct {
	Namespace   string `json:"namespace,omitempty"`
	Verb        string `json:"verb,omitempty"`
	Group       string `json:"group,omitempty"`
	Version     string `json:"version,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
}

// NonResourceAttributes describe a request on a URL path.
type NonResourceAttributes struct {
	Path string `json:"path,omitempty"`
	Verb string `json:"verb,omitempty"`
}

// AccessRequest is one request to authorise: on a resource or on a path.
type AccessRequest struct {
	ResourceAttributes    *ResourceAttributes    `json:"resourceAttributes,omitempty"`
	NonResourceAttributes *NonResourceAttributes `json:"nonResourceAttributes,omitempty"`
}

// SelfSubjectAccessReview asks whether the caller may do something
// (`kubectl auth can-i`).
type SelfSubjectAccessReview struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       AccessRequest             `json:"spec"`
	Status     SubjectAccessReviewStatus `json:"status"`
}

// SubjectAccessReviewStatus is the answer.
type SubjectAccessReviewStatus struct {
	Allowed bool   `json:"allowed"`
	Denied  bool   `json:"denied,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// SelfSubjectReview says who the caller is (`kubectl auth whoami`).
type SelfSubjectReview struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Status     SelfSubjectReviewStatus `json:"status"`
}

// SelfSubjectReviewStatus holds the caller's identity.
type SelfSubjectReviewStatus struct {
	UserInfo UserInfo `json:"userInfo"`
}

// RBAC kinds, for code that names one directly.
var (
	KindRole               = MustKind("Role")
	KindClusterRole        = MustKind("ClusterRole")
	KindRoleBinding        = MustKind("RoleBinding")
	KindClusterRoleBinding = MustKind("ClusterRoleBinding")
	KindToken              = MustKind("Token")
)

var verbRE = regexp.MustCompile(`^(\*|[a-z]+)$`)

func validateRules(e *errs, p path, rules []PolicyRule, cluster bool) {
	for i, r := range rules {
		rp := p.index(i)
		if len(r.Verbs) == 0 {
			e.required(rp.child("verbs"), "the verbs the rule grants, such as get, list, watch, create, update, patch, delete, or *")
		}
		for j, v := range r.Verbs {
			if !verbRE.MatchString(v) {
				e.invalid(rp.child("verbs").index(j), v, "a verb is lower-case letters, or *")
			}
		}
		if len(r.NonResourceURLs) > 0 {
			if !cluster {
				e.forbidden(rp.child("nonResourceURLs"), "a Role is namespaced; non-resource URLs belong in a ClusterRole")
			}
			if len(r.Resources) > 0 || len(r.APIGroups) > 0 {
				e.forbidden(rp, "a rule grants either resources (apiGroups, resources) or nonResourceURLs, not both")
			}
			for j, u := range r.NonResourceURLs {
				if !strings.HasPrefix(u, "/") && u != "*" {
					e.invalid(rp.child("nonResourceURLs").index(j), u, "a path starting with /, optionally ending in *")
				}
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			e.required(rp.child("apiGroups"), `the API groups of the resources ("" for the core group, "*" for all)`)
		}
		if len(r.Resources) == 0 {
			e.required(rp.child("resources"), "the resources the rule grants, such as pods, deployments, pods/log, or *")
		}
	}
}

func validateRoleRef(e *errs, r RoleRef, cluster bool) {
	if r.APIGroup != RBACGroup {
		e.notSupported("roleRef.apiGroup", r.APIGroup, RBACGroup)
	}
	switch {
	case r.Kind == "ClusterRole":
	case r.Kind == "Role" && !cluster:
	case cluster:
		e.notSupported("roleRef.kind", r.Kind, "ClusterRole")
	default:
		e.notSupported("roleRef.kind", r.Kind, "Role", "ClusterRole")
	}
	if r.Name == "" {
		e.required("roleRef.name", "the name of the role to grant")
	}
}

func validateSubjects(e *errs, subjects []Subject) {
	for i, s := range subjects {
		p := path("subjects").index(i)
		if s.Name == "" {
			e.required(p.child("name"), "the user, group or service account")
		}
		switch s.Kind {
		case SubjectUser, SubjectGroup:
			if s.APIGroup != RBACGroup {
				e.notSupported(p.child("apiGroup"), s.APIGroup, RBACGroup)
			}
		case SubjectServiceAccount:
			if s.Namespace == "" {
				e.required(p.child("namespace"), "the namespace of the service account")
			}
		default:
			e.notSupported(p.child("kind"), s.Kind, SubjectUser, SubjectGroup, SubjectServiceAccount)
		}
	}
}

var tokenHashRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func validateToken(e *errs, t *Token) {
	for _, msg := range IsDNS1123Label(t.Name) {
		e.invalid("metadata.name", t.Name, "a token's name is a DNS-1123 label (it is the user name and part of the token): "+msg)
	}
	if !tokenHashRE.MatchString(t.Spec.Hash) {
		e.invalid("spec.hash", nil, `must be "sha256:" and 64 lower-case hex digits: the hash of the token's secret, which `+
			"`shoal token create` computes; the secret itself is never stored")
	}
	if len(t.Spec.Description) > 1024 {
		e.invalid("spec.description", nil, "at most 1024 characters")
	}
}

// validateRBAC checks the kinds of this file; it reports whether o was one.
func validateRBAC(e *errs, o Object) bool {
	switch obj := o.(type) {
	case *Role:
		validateRules(e, "rules", obj.Rules, false)
	case *ClusterRole:
		validateRules(e, "rules", obj.Rules, true)
	case *RoleBinding:
		validateRoleRef(e, obj.RoleRef, false)
		validateSubjects(e, obj.Subjects)
	case *ClusterRoleBinding:
		validateRoleRef(e, obj.RoleRef, true)
		validateSubjects(e, obj.Subjects)
	case *Token:
		validateToken(e, obj)
	default:
		return false
	}
	return true
}

// defaultRBAC fills the API group of User and Group subjects.
func defaultRBAC(o Object) {
	var subjects []Subject
	switch obj := o.(type) {
	case *RoleBinding:
		subjects = obj.Subjects
	case *ClusterRoleBinding:
		subjects = obj.Subjects
	}
	for i := range subjects {
		if s := &subjects[i]; s.APIGroup == "" && (s.Kind == SubjectUser || s.Kind == SubjectGroup) {
			s.APIGroup = RBACGroup
		}
	}
}

// ForbiddenMessage is Kubernetes' wording of a refused request.
func ForbiddenMessage(u *UserInfo, a *ResourceAttributes) string {
	what := a.Resource
	if a.Subresource != "" {
		what += "/" + a.Subresource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", u.Username, a.Verb, what, a.Group)
	if a.Namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", a.Namespace)
	} else {
		msg += " at the cluster scope"
	}
	if a.Name != "" {
		return fmt.Sprintf("%s %q is forbidden: %s", what, a.Name, msg)
	}
	return fmt.Sprintf("%s is forbidden: %s", what, msg)
}

// IsValidPathSegmentName checks a name that only needs to be one segment
// of a URL path (the names of roles and bindings, as in Kubernetes).
func IsValidPathSegmentName(name string) []string {
	var msgs []string
	if name == "." || name == ".." {
		msgs = append(msgs, fmt.Sprintf("may not be '%s'", name))
	}
	if strings.ContainsAny(name, "/%") {
		msgs = append(msgs, "may not contain '/' or '%'")
	}
	if len(name) > 253 {
		msgs = append(msgs, "must be no more than 253 characters")
	}
	for _, c := range name {
		if c < 0x21 || c > 0x7e {
			msgs = append(msgs, "may contain only printable ASCII characters without spaces")
			break
		}
	}
	return msgs
}
