package patch

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/shoal-dev/shoal/api"
)

// Type is the media type of a PATCH body.
type Type string

// The patch types shoal applies, and server-side apply's, which it refuses.
const (
	JSONPatch           Type = "application/json-patch+json"
	MergePatch          Type = "application/merge-patch+json"
	StrategicMergePatch Type = "application/strategic-merge-patch+json"
	ApplyPatchYAML      Type = "application/apply-patch+yaml"
	ApplyPatchCBOR      Type = "application/apply-patch+cbor"
)

// Types lists the patch types Apply accepts, in the order messages name them.
var Types = []Type{StrategicMergePatch, MergePatch, JSONPatch}

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
	case ApplyPatchYAML, ApplyPatchCBOR:
		return api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType,
			"server-side apply ("+mt+") is not supported yet; use client-side apply "+
				"(kubectl apply without --server-side sends a strategic merge patch), "+
				"or send one of "+accepted())
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
func strategic(doc, p []byte, schema any) ([]byte, error) {
	if schema == nil {
		return nil, api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType,
			"a strategic merge patch needs the object's schema; send "+string(MergePatch)+" or "+string(JSONPatch))
	}
	out, err := strategicpatch.StrategicMergePatch(doc, p, schema)
	if err == nil {
		return out, nil
	}
	switch {
	case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
		errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
		errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
		return nil, api.NewBadRequest("strategic merge patch: " + err.Error())
	}
	return nil, unprocessable("strategic merge patch: " + err.Error())
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
