package patch

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/shoal-dev/shoal/api"
)

// Type is the media type of a PATCH body.
type Type string

// The patch types shoal applies. Server-side apply (ApplyPatchYAML) is
// package fieldmanager's, not Apply's; its CBOR form is refused.
const (
	JSONPatch           Type = "application/json-patch+json"
	MergePatch          Type = "application/merge-patch+json"
	StrategicMergePatch Type = "application/strategic-merge-patch+json"
	ApplyPatchYAML      Type = "application/apply-patch+yaml"
	ApplyPatchCBOR      Type = "application/apply-patch+cbor"
)

// Types lists the patch types Apply accepts, in the order messages name them.
var Types = []Type{StrategicMergePatch, MergePatch, JSONPatch, ApplyPatchYAML}

// MaxJSONPatchOperations bounds the operations of one JSON patch, as
// Kubernetes' API server does.
const MaxJSONPatchOperations = 10000

// accepted names the accepted types for messages.
func accepted() string {
	s := make([]string, len(Types))
	for i, t := range Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// ParseType reads a request's Content-Type as a patch type. A type shoal
// does not apply is a 415 Status naming the accepted ones.
func ParseType(contentType string) (Type, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		mt = ""
	}
	for _, t := range Types {
		if Type(mt) == t {
			return t, nil
		}
	}
	return "", Unsupported(contentType)
}

// Unsupported is the 415 answer to a PATCH whose Content-Type is not a
// patch type shoal applies.
func Unsupported(contentType string) *api.StatusError {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch Type(mt) {
	case ApplyPatchCBOR:
		return api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType,
			"server-side apply in CBOR ("+mt+") is not supported; send the apply configuration as "+
				string(ApplyPatchYAML)+" (one of "+accepted()+")")
	case ApplyPatchYAML:
		return api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType,
			"server-side apply ("+mt+") is not supported on this path; apply the object itself, "+
				"or send one of "+string(StrategicMergePatch)+", "+string(MergePatch)+", "+string(JSONPatch))
	}
	what := fmt.Sprintf("Content-Type %q", contentType)
	if contentType == "" {
		what = "a PATCH without a Content-Type"
	}
	return api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType,
		what+" is not a patch type shoal applies; send one of "+accepted())
}

// Limits bound what one patch may cost.
type Limits struct {
	// MaxJSONPatchOperations bounds the operations of a JSON patch; 0
	// means MaxJSONPatchOperations.
	MaxJSONPatchOperations int
}

// MaxCopyBytes bounds the bytes one JSON patch's copy operations may add
// together, so that a few thousand copies of a large subtree cannot take
// the agent's memory.
const MaxCopyBytes = 8 << 20

// The library keeps this bound in a package variable (Kubernetes' API
// server sets it the same way); this package is shoal's only user of it.
func init() { jsonpatch.AccumulatedCopySizeLimit = MaxCopyBytes }

func (l Limits) ops() int {
	if l.MaxJSONPatchOperations > 0 {
		return l.MaxJSONPatchOperations
	}
	return MaxJSONPatchOperations
}

// Apply applies a patch of type t to doc, the JSON of an object whose Go
// type is schema's (a pointer to a struct of package api, such as
// &api.Deployment{}; its tags drive a strategic merge patch). The result
// is JSON; errors are Status errors: 400 for a malformed patch, 413 for a
// JSON patch with too many operations, 422 for a patch that does not fit
// the document (a failed test, a path that is not there).
func Apply(t Type, doc, p []byte, schema any, lim Limits) ([]byte, error) {
	switch t {
	case MergePatch:
		out, err := api.MergePatch(doc, p)
		if err != nil {
			return nil, api.NewBadRequest("merge patch: " + err.Error())
		}
		return out, nil
	case StrategicMergePatch:
		return strategic(doc, p, schema)
	case JSONPatch:
		return jsonPatch(doc, p, lim)
	}
	return nil, Unsupported(string(t))
}

// strategic applies a strategic merge patch: lists tagged with a merge
// key merge element by element, and the directives ($patch,
// $setElementOrder, $retainKeys, $deleteFromPrimitiveList) do what
// Kubernetes documents.
func strategic(doc, p []byte, schema any) (out []byte, err error) {
	if schema == nil {
		return nil, api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType,
			"a strategic merge patch needs the object's schema; send "+string(MergePatch)+" or "+string(JSONPatch))
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(schema)
	if err != nil {
		return nil, api.NewInternal(fmt.Errorf("strategic merge patch schema: %w", err))
	}
	var patchMap map[string]any
	if err := json.Unmarshal(p, &patchMap); err != nil || patchMap == nil {
		return nil, api.NewBadRequest("strategic merge patch: the patch must be a JSON object, such as {\"spec\":{\"replicas\":3}}")
	}
	var docMap map[string]any
	if err := json.Unmarshal(doc, &docMap); err != nil {
		return nil, api.NewInternal(fmt.Errorf("stored object: %w", err))
	}
	dropUnknownDirectives(patchMap, meta.T)
	// The library panics on some patches that do not fit the schema (a
	// merge key whose value is an object): a patch is client input, so
	// that is a refusal, not a crash.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, unprocessable(fmt.Sprintf("strategic merge patch: the patch does not fit the object: %v", r))
		}
	}()
	merged, err := strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(docMap, patchMap, lenient{meta})
	if err == nil {
		return json.Marshal(merged)
	}
	switch {
	case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
		errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
		errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
		return nil, api.NewBadRequest("strategic merge patch: " + err.Error())
	}
	return nil, unprocessable("strategic merge patch: " + err.Error())
}

// dropUnknownDirectives removes from a strategic merge patch the
// $setElementOrder and $deleteFromPrimitiveList directives of fields
// shoal's types lack: they need a merge key nobody knows here, and the
// field's own value, kept, is reported as unknown when the result is
// decoded.
func dropUnknownDirectives(m map[string]any, t reflect.Type) {
	t = derefType(t)
	switch t.Kind() {
	case reflect.Map:
		for _, v := range m {
			dropUnknownIn(v, t.Elem())
		}
		return
	case reflect.Struct:
	default:
		return
	}
	fields := jsonFields(t)
	for k, v := range m {
		for _, prefix := range []string{"$setElementOrder/", "$deleteFromPrimitiveList/"} {
			if name, ok := strings.CutPrefix(k, prefix); ok {
				if _, known := fields[name]; !known {
					delete(m, k)
				}
			}
		}
		if f, ok := fields[k]; ok {
			dropUnknownIn(v, f.Type)
		}
	}
}

func dropUnknownIn(v any, t reflect.Type) {
	switch x := v.(type) {
	case map[string]any:
		dropUnknownDirectives(x, t)
	case []any:
		if t = derefType(t); t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for _, e := range x {
				dropUnknownIn(e, t.Elem())
			}
		}
	}
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// jsonPatch applies an RFC 6902 patch within the limits.
func jsonPatch(doc, p []byte, lim Limits) ([]byte, error) {
	ops, err := jsonpatch.DecodePatch(p)
	if err != nil {
		return nil, api.NewBadRequest("JSON patch: " + err.Error() + "; send a JSON array of operations such as [{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3}]")
	}
	if len(ops) > lim.ops() {
		return nil, api.NewStatusError(http.StatusRequestEntityTooLarge, api.ReasonTooLarge,
			fmt.Sprintf("JSON patch has %d operations; at most %d are accepted in one request", len(ops), lim.ops()))
	}
	out, err := ops.Apply(doc)
	if err != nil {
		return nil, unprocessable("JSON patch: " + err.Error())
	}
	return out, nil
}

func unprocessable(msg string) *api.StatusError {
	return api.NewStatusError(http.StatusUnprocessableEntity, api.ReasonInvalid, msg)
}

// lenient is the patch metadata of shoal's types, with one difference from
// the library's: a field shoal's types lack (a Kubernetes field shoal does
// not support yet, such as hostAliases) is patched without a strategy, as a
// merge patch would, instead of failing the whole patch. Decoding the
// result then reports the field as unknown: a warning, or under
// fieldValidation=Strict an error naming it, as for a create.
type lenient struct {
	strategicpatch.PatchMetaFromStruct
}

func (l lenient) LookupPatchMetadataForStruct(key string) (strategicpatch.LookupPatchMeta, strategicpatch.PatchMeta, error) {
	sub, meta, err := l.PatchMetaFromStruct.LookupPatchMetadataForStruct(key)
	if err != nil {
		if unknownField(l.T, key) {
			return unknownMeta{}, strategicpatch.PatchMeta{}, nil
		}
		return nil, meta, err
	}
	return lenient{sub.(strategicpatch.PatchMetaFromStruct)}, meta, nil
}

func (l lenient) LookupPatchMetadataForSlice(key string) (strategicpatch.LookupPatchMeta, strategicpatch.PatchMeta, error) {
	sub, meta, err := l.PatchMetaFromStruct.LookupPatchMetadataForSlice(key)
	if err != nil {
		if unknownField(l.T, key) {
			return unknownMeta{}, strategicpatch.PatchMeta{}, nil
		}
		return nil, meta, err
	}
	return lenient{sub.(strategicpatch.PatchMetaFromStruct)}, meta, nil
}

// unknownMeta describes everything under a field shoal's types lack: no
// strategy anywhere.
type unknownMeta struct{}

func (unknownMeta) LookupPatchMetadataForStruct(string) (strategicpatch.LookupPatchMeta, strategicpatch.PatchMeta, error) {
	return unknownMeta{}, strategicpatch.PatchMeta{}, nil
}

func (unknownMeta) LookupPatchMetadataForSlice(string) (strategicpatch.LookupPatchMeta, strategicpatch.PatchMeta, error) {
	return unknownMeta{}, strategicpatch.PatchMeta{}, nil
}

func (unknownMeta) Name() string { return "unknown" }

// unknownField reports whether t is a struct without a JSON field named
// key.
func unknownField(t reflect.Type, key string) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return false
	}
	_, ok := jsonFields(t)[key]
	return !ok
}

// jsonFields lists a struct's fields by JSON name, with inline (unnamed
// embedded) structs flattened as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" && f.Anonymous && ft.Kind() == reflect.Struct {
			for n, g := range jsonFields(ft) {
				out[n] = g
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}
