package openapi

import "github.com/shoal-dev/shoal/api"

// Resource is one REST resource the server serves, as discovery lists it.
type Resource struct {
	Group, Version string
	Resource       string // plural, the path segment
	Singular       string
	Kind           string
	Namespaced     bool
	Verbs          []string // sorted: create delete deletecollection get list patch update watch
	ShortNames     []string
	Categories     []string
	Subresources   []Subresource
	// Object is a value of the Go type the resource's requests and answers
	// carry; its fields make the schema.
	Object any
	// Registered is the registry's entry, nil for resources outside it (the
	// access reviews).
	Registered *api.Kind
}

// Subresource is a path below an object: status, scale, log, exec...
type Subresource struct {
	Name string
	// The kind its requests and answers carry.
	Group, Version, Kind string
	Verbs                []string
	// Object is a value of the Go type its requests and answers carry when
	// that is not the parent's (a Scale, a Binding); nil for the parent's
	// type or for plain text (logs, exec streams).
	Object any
}

// GroupVersion is "v1" for the core group and "group/version" otherwise.
func (r *Resource) GroupVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// PathPrefix is "/api/v1" for the core group and "/apis/group/version"
// otherwise.
func PathPrefix(group, version string) string {
	if group == "" {
		return "/api/" + version
	}
	return "/apis/" + group + "/" + version
}
