package api

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	dns1123LabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123SubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	qualifiedNameRE    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValueRE       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	envVarNameRE       = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	configKeyRE        = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// IsDNS1123Label checks a name such as a namespace, a container or a port name.
func IsDNS1123Label(s string) []string {
	var errs []string
	if len(s) > 63 {
		errs = append(errs, "must be no more than 63 characters")
	}
	if !dns1123LabelRE.MatchString(s) {
		errs = append(errs, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')")
	}
	return errs
}

// IsDNS1123Subdomain checks most object names.
func IsDNS1123Subdomain(s string) []string {
	var errs []string
	if len(s) > 253 {
		errs = append(errs, "must be no more than 253 characters")
	}
	if !dns1123SubdomainRE.MatchString(s) {
		errs = append(errs, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')")
	}
	return errs
}

// IsQualifiedName checks a label or annotation key: an optional DNS subdomain
// prefix and a slash, then a name of at most 63 characters.
func IsQualifiedName(s string) []string {
	name := s
	if i := strings.LastIndex(s, "/"); i >= 0 {
		prefix := s[:i]
		name = s[i+1:]
		if prefix == "" {
			return []string{"prefix part must be non-empty"}
		}
		if errs := IsDNS1123Subdomain(prefix); len(errs) > 0 {
			return []string{"prefix part " + errs[0]}
		}
	}
	if name == "" {
		return []string{"name part must be non-empty"}
	}
	if len(name) > 63 {
		return []string{"name part must be no more than 63 characters"}
	}
	if !qualifiedNameRE.MatchString(name) {
		return []string{"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"}
	}
	return nil
}

// IsValidLabelValue checks a label value.
func IsValidLabelValue(s string) []string {
	if len(s) > 63 {
		return []string{"must be no more than 63 characters"}
	}
	if !labelValueRE.MatchString(s) {
		return []string{"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345')"}
	}
	return nil
}

// FieldError is one validation failure at a field path, such as
// spec.template.spec.containers[0].image.
type FieldError struct {
	Field  string
	Value  any
	Detail string
	Type   string
}

// Field error types, the Kubernetes cause reasons.
const (
	ErrTypeRequired     = "FieldValueRequired"
	ErrTypeInvalid      = "FieldValueInvalid"
	ErrTypeNotSupported = "FieldValueNotSupported"
	ErrTypeDuplicate    = "FieldValueDuplicate"
	ErrTypeForbidden    = "FieldValueForbidden"
	ErrTypeUnknown      = "FieldValueUnknown"
)

func (e FieldError) Error() string {
	switch e.Type {
	case ErrTypeRequired:
		return fmt.Sprintf("%s: Required value: %s", e.Field, e.Detail)
	case ErrTypeNotSupported:
		return fmt.Sprintf("%s: Unsupported value: %#v: %s", e.Field, e.Value, e.Detail)
	case ErrTypeDuplicate:
		return fmt.Sprintf("%s: Duplicate value: %#v", e.Field, e.Value)
	case ErrTypeForbidden:
		return fmt.Sprintf("%s: Forbidden: %s", e.Field, e.Detail)
	case ErrTypeUnknown:
		return fmt.Sprintf("%s: unknown field: %s", e.Field, e.Detail)
	}
	if e.Value == nil {
		return fmt.Sprintf("%s: Invalid value: %s", e.Field, e.Detail)
	}
	return fmt.Sprintf("%s: Invalid value: %#v: %s", e.Field, e.Value, e.Detail)
}

// FieldErrors collects validation failures.
type FieldErrors []FieldError

func (l FieldErrors) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, ", ")
}

// path builds field paths without string juggling at every call site.
type path string

func (p path) child(name string) path {
	if p == "" {
		return path(name)
	}
	return path(string(p) + "." + name)
}

func (p path) index(i int) path { return path(fmt.Sprintf("%s[%d]", p, i)) }

func (p path) key(k string) path { return path(fmt.Sprintf("%s[%s]", p, k)) }

// errs is a small builder used by the validators.
type errs struct{ list FieldErrors }

func (e *errs) required(p path, detail string) {
	e.list = append(e.list, FieldError{Field: string(p), Type: ErrTypeRequired, Detail: detail})
}

func (e *errs) invalid(p path, v any, detail string) {
	e.list = append(e.list, FieldError{Field: string(p), Value: v, Type: ErrTypeInvalid, Detail: detail})
}

func (e *errs) notSupported(p path, v any, allowed ...string) {
	e.list = append(e.list, FieldError{Field: string(p), Value: v, Type: ErrTypeNotSupported,
		Detail: "supported values: " + quoteJoin(allowed)})
}

func (e *errs) duplicate(p path, v any) {
	e.list = append(e.list, FieldError{Field: string(p), Value: v, Type: ErrTypeDuplicate})
}

func (e *errs) forbidden(p path, detail string) {
	e.list = append(e.list, FieldError{Field: string(p), Type: ErrTypeForbidden, Detail: detail})
}

func quoteJoin(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
