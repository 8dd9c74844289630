package api

import (
	"fmt"
	"strings"
)

// FieldRequirement is one term of a field selector: field = value, or
// field != value.
type FieldRequirement struct {
	Field, Value string
	NotEqual     bool
}

// FieldSelector is a conjunction of field requirements; empty matches
// everything.
type FieldSelector []FieldRequirement

// Empty says whether the selector matches every object.
func (s FieldSelector) Empty() bool { return len(s) == 0 }

// fieldGetters are the fields a selector may name, as Kubernetes offers
// them: metadata.name and metadata.namespace for every kind, and a few of
// some kinds.
var fieldGetters = map[string]func(Object) (string, bool){
	"metadata.name":      func(o Object) (string, bool) { return o.GetObjectMeta().Name, true },
	"metadata.namespace": func(o Object) (string, bool) { return o.GetObjectMeta().Namespace, true },
	"spec.nodeName": func(o Object) (string, bool) {
		if p, ok := o.(*Pod); ok {
			return p.Spec.NodeName, true
		}
		return "", false
	},
	"status.phase": func(o Object) (string, bool) {
		if p, ok := o.(*Pod); ok {
			return string(p.Status.Phase), true
		}
		return "", false
	},
}

// ParseFieldSelector parses the fieldSelector query parameter:
// "f=v,g!=w" ("==" is accepted for "="). Only the fields shoal can
// select on are accepted, each named in the error otherwise.
func ParseFieldSelector(text string) (FieldSelector, error) {
	var sel FieldSelector
	for _, term := range strings.Split(text, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		var r FieldRequirement
		var ok bool
		if r.Field, r.Value, ok = strings.Cut(term, "!="); ok {
			r.NotEqual = true
		} else if r.Field, r.Value, ok = strings.Cut(term, "=="); !ok {
			if r.Field, r.Value, ok = strings.Cut(term, "="); !ok {
				return nil, fmt.Errorf("%q is not of the form field=value or field!=value", term)
			}
		}
		r.Field, r.Value = strings.TrimSpace(r.Field), strings.TrimSpace(r.Value)
		if _, known := fieldGetters[r.Field]; !known {
			return nil, fmt.Errorf("field %q is not supported; select on metadata.name, metadata.namespace, spec.nodeName or status.phase (pods)", r.Field)
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// Matches says whether obj satisfies every requirement. A field the
// object's kind does not have matches no value.
func (s FieldSelector) Matches(obj Object) bool {
	for _, r := range s {
		v, has := fieldGetters[r.Field](obj)
		if !has || (v == r.Value) == r.NotEqual {
			return false
		}
	}
	return true
}

// String gives the selector back in the query syntax.
func (s FieldSelector) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		op := "="
		if r.NotEqual {
			op = "!="
		}
		parts[i] = r.Field + op + r.Value
	}
	return strings.Join(parts, ",")
}
