package openapi

import (
	"encoding"
	"encoding/json"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/shoal-dev/shoal/api"
)

// Extensions Kubernetes clients read.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extAction        = "x-kubernetes-action"
	extPreserve      = "x-kubernetes-preserve-unknown-fields"
)

// scalar types that marshal themselves as strings, each a definition of its
// own as in Kubernetes' documents.
var (
	intOrStringType = reflect.TypeFor[api.IntOrString]()
	quantityType    = reflect.TypeFor[api.Quantity]()
	timeType        = reflect.TypeFor[api.Time]()
	stdTimeType     = reflect.TypeFor[time.Time]()
	fieldsV1Type    = reflect.TypeFor[api.FieldsV1]()
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
)

// Schemas builds the definitions of Go types, each named struct once,
// referring to each other by refPrefix ("#/definitions/" for v2,
// "#/components/schemas/" for v3).
type Schemas struct {
	refPrefix string
	defs      map[string]spec.Schema
	names     map[reflect.Type]string
}

// NewSchemas starts an empty set of definitions.
func NewSchemas(refPrefix string) *Schemas {
	return &Schemas{refPrefix: refPrefix, defs: map[string]spec.Schema{}, names: map[reflect.Type]string{}}
}

// Definitions returns the definitions built so far, by name.
func (b *Schemas) Definitions() map[string]spec.Schema { return b.defs }

// DefinitionName names the definition of a named Go type:
// "dev.shoal.<package>.<Type>", so that kubectl explain shows the type's
// own name.
func DefinitionName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return "dev.shoal." + path.Base(t.PkgPath()) + "." + t.Name()
}

// Ref returns a schema referring to the definition named.
func (b *Schemas) Ref(name string) spec.Schema {
	return *spec.RefSchema(b.refPrefix + name)
}

// Define makes sure the named struct type t has a definition and returns
// its name.
func (b *Schemas) Define(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := b.names[t]; ok {
		return name
	}
	name := DefinitionName(t)
	b.names[t] = name
	b.defs[name] = spec.Schema{} // placeholder: recursive types refer to it
	b.defs[name] = b.definition(t)
	return name
}

// definition is the schema of a named type itself.
func (b *Schemas) definition(t reflect.Type) spec.Schema {
	switch t {
	case intOrStringType:
		s := spec.Schema{}
		s.Type, s.Format = spec.StringOrArray{"string"}, "int-or-string"
		s.Description = "IntOrString holds either an integer or a string, such as a port number or a port name, or 25%."
		return s
	case quantityType:
		s := spec.Schema{}
		s.Type, s.Format = spec.StringOrArray{"string"}, "quantity"
		s.Description = "Quantity is an amount with an optional suffix: 100m (a tenth of a CPU), 128Mi, 1G."
		return s
	case timeType, stdTimeType:
		s := spec.Schema{}
		s.Type, s.Format = spec.StringOrArray{"string"}, "date-time"
		s.Description = "Time in RFC 3339 form, such as 2026-01-02T15:04:05Z."
		return s
	case fieldsV1Type:
		s := spec.Schema{}
		s.Type = spec.StringOrArray{"object"}
		s.Description = "FieldsV1 is a set of fields in JSON: a trie of \"f:<name>\", \"k:<key>\" and \"v:<value>\" members."
		s.AddExtension(extPreserve, true)
		return s
	}
	if t.Kind() != reflect.Struct {
		return b.inline(t)
	}
	s := spec.Schema{}
	s.Type = spec.StringOrArray{"object"}
	s.Properties = map[string]spec.Schema{}
	if t.PkgPath() == apiPackage {
		s.Description = typeDescriptions[t.Name()]
	}
	b.addFields(&s, t)
	return s
}

var apiPackage = reflect.TypeFor[api.ObjectMeta]().PkgPath()

// addFields adds t's JSON fields to s, following inlined embedded structs
// as encoding/json does.
func (b *Schemas) addFields(s *spec.Schema, t reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct && !isScalar(ft) {
			b.addFields(s, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop := b.field(f.Type)
		if d, ok := fieldDescriptions[name]; ok && prop.Ref.String() == "" {
			prop.Description = d
		}
		b.patchExtensions(&prop, f)
		// A default the server gives, such as a port's protocol: server-side
		// apply reads it for a list-map key an item leaves out.
		if d := f.Tag.Get("default"); d != "" {
			prop.Default = d
		}
		s.Properties[name] = prop
		// As in Kubernetes' types, a field the encoder never leaves out is
		// one every object has.
		if !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") && !slices.Contains(s.Required, name) {
			s.Required = append(s.Required, name)
			slices.Sort(s.Required)
		}
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// patchExtensions turns the struct tags strategic merge patch reads
// (patchStrategy, patchMergeKey) into the extensions kubectl reads from
// OpenAPI, and a list merged by key into a map-type list keyed by it.
// Explicit listType and listMapKeys tags win.
func (b *Schemas) patchExtensions(prop *spec.Schema, f reflect.StructField) {
	strategy := f.Tag.Get("patchStrategy")
	key := f.Tag.Get("patchMergeKey")
	if strategy != "" {
		prop.AddExtension(extPatchStrategy, strategy)
	}
	if key != "" {
		prop.AddExtension(extPatchMergeKey, key)
	}
	listType, mapKeys := f.Tag.Get("listType"), f.Tag.Get("listMapKeys")
	if listType == "" && key != "" && slices.Contains(strings.Split(strategy, ","), "merge") && f.Type.Kind() == reflect.Slice {
		listType = "map"
	}
	if listType != "" {
		prop.AddExtension(extListType, listType)
	}
	if listType == "map" {
		keys := []string{key}
		if mapKeys != "" {
			keys = strings.Split(mapKeys, ",")
		}
		if keys[0] != "" {
			prop.AddExtension(extListMapKeys, keys)
		}
	}
}

// isScalar reports the struct types that marshal as one JSON value.
func isScalar(t reflect.Type) bool {
	switch t {
	case intOrStringType, quantityType, timeType, stdTimeType:
		return true
	}
	return reflect.PointerTo(t).Implements(marshalerType) || t.Implements(marshalerType) ||
		reflect.PointerTo(t).Implements(textMarshaler)
}

// field is the schema of a field of type t: a reference for named structs,
// an inline schema otherwise.
func (b *Schemas) field(t reflect.Type) spec.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t.Name() != "" {
		switch {
		case t == intOrStringType || t == quantityType || t == timeType || t == stdTimeType || t == fieldsV1Type:
			return b.Ref(b.Define(t))
		case isScalar(t):
			return b.inline(t)
		}
		return b.Ref(b.Define(t))
	}
	return b.inline(t)
}

// inline is the schema of an unnamed or non-struct type.
func (b *Schemas) inline(t reflect.Type) spec.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return *spec.StringProperty()
	case reflect.Bool:
		return *spec.BoolProperty()
	case reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint16, reflect.Uint8:
		return *spec.Int32Property()
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return *spec.Int64Property()
	case reflect.Float32:
		return *spec.Float32Property()
	case reflect.Float64:
		return *spec.Float64Property()
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s := spec.StringProperty()
			s.Format = "byte"
			return *s
		}
		items := b.field(t.Elem())
		return *spec.ArrayProperty(&items)
	case reflect.Map:
		v := b.field(t.Elem())
		return *spec.MapProperty(&v)
	case reflect.Struct:
		if isScalar(t) { // marshals itself: most such types are strings
			return *spec.StringProperty()
		}
		s := spec.Schema{}
		s.Type = spec.StringOrArray{"object"}
		s.Properties = map[string]spec.Schema{}
		b.addFields(&s, t)
		return s
	}
	// interface{} and anything else: any JSON value.
	s := spec.Schema{}
	s.AddExtension(extPreserve, true)
	return s
}
