package openapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/shoal-dev/shoal/api"
)

// Types of the test's own, with every shape the generator handles.
type widget struct {
	api.TypeMeta   `json:",inline"`
	api.ObjectMeta `json:"metadata,omitzero"`
	Spec           widgetSpec `json:"spec"`
}

type embedded struct {
	Shared string `json:"shared,omitempty"`
}

type widgetSpec struct {
	embedded
	Name     string            `json:"name"`
	Count    *int32            `json:"count,omitempty"`
	Big      int64             `json:"big,omitempty"`
	Ratio    float64           `json:"ratio,omitempty"`
	On       bool              `json:"on,omitempty"`
	Port     api.IntOrString   `json:"port,omitzero"`
	Memory   api.Quantity      `json:"memory,omitzero"`
	Since    api.Time          `json:"since,omitzero"`
	Labels   map[string]string `json:"labels,omitempty"`
	Data     []byte            `json:"data,omitempty"`
	Parts    []part            `json:"parts,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	Ports    []part            `json:"ports,omitempty" patchStrategy:"merge" patchMergeKey:"port" listType:"map" listMapKeys:"port,protocol"`
	Finalize []string          `json:"finalize,omitempty" patchStrategy:"merge"`
	Next     *widgetSpec       `json:"next,omitempty"` // recursive
	Any      any               `json:"any,omitempty"`
	Skipped  string            `json:"-"`
	hidden   string
}

type part struct {
	Name     string `json:"name"`
	Port     int32  `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

func TestSchemasFollowJSONTagsAndPatchTags(t *testing.T) {
	b := NewSchemas(refV2)
	name := b.Define(reflect.TypeFor[widget]())
	defs := b.Definitions()
	w := defs[name]
	if name != "dev.shoal.openapi.widget" || !slices.Equal(w.Required, []string{"spec"}) {
		t.Fatalf("%s required %v", name, w.Required)
	}
	for _, p := range []string{"apiVersion", "kind", "metadata", "spec"} {
		if _, ok := w.Properties[p]; !ok {
			t.Errorf("widget lacks %s (inlined TypeMeta, named ObjectMeta)", p)
		}
	}
	if ref := refOf(w.Properties["metadata"]); ref != "#/definitions/dev.shoal.api.ObjectMeta" {
		t.Errorf("metadata ref %q", ref)
	}
	s := defs["dev.shoal.openapi.widgetSpec"]
	if !slices.Equal(s.Required, []string{"name"}) {
		t.Errorf("widgetSpec required %v, want [name] (omitempty and omitzero are optional)", s.Required)
	}
	typ := func(p string) string {
		ps := s.Properties[p]
		if len(ps.Type) == 0 {
			return refOf(ps)
		}
		return ps.Type[0] + "/" + ps.Format
	}
	for p, want := range map[string]string{
		"shared": "string/", "name": "string/", "count": "integer/int32", "big": "integer/int64", "ratio": "number/double",
		"on": "boolean/", "labels": "object/", "data": "string/byte", "parts": "array/", "finalize": "array/",
		"port": "#/definitions/dev.shoal.api.IntOrString", "memory": "#/definitions/dev.shoal.api.Quantity",
		"since": "#/definitions/dev.shoal.api.Time", "next": "#/definitions/dev.shoal.openapi.widgetSpec",
	} {
		if got := typ(p); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	for _, p := range []string{"Skipped", "-", "hidden", "embedded"} {
		if _, ok := s.Properties[p]; ok {
			t.Errorf("property %s should not be there", p)
		}
	}
	if s.Properties["labels"].AdditionalProperties.Schema.Type[0] != "string" {
		t.Error("labels: values are not strings")
	}
	if s.Properties["any"].Extensions[extPreserve] != true {
		t.Error("any: not preserve-unknown-fields")
	}
	if f := defs["dev.shoal.api.IntOrString"]; f.Format != "int-or-string" {
		t.Errorf("IntOrString: %+v", f)
	}
	ext := func(p, key string) any { return s.Properties[p].Extensions[key] }
	if ext("parts", extPatchStrategy) != "merge" || ext("parts", extPatchMergeKey) != "name" || ext("parts", extListType) != "map" ||
		!slices.Equal(ext("parts", extListMapKeys).([]string), []string{"name"}) {
		t.Errorf("parts extensions: %v", s.Properties["parts"].Extensions)
	}
	if ext("ports", extListType) != "map" || !slices.Equal(ext("ports", extListMapKeys).([]string), []string{"port", "protocol"}) {
		t.Errorf("ports extensions: %v", s.Properties["ports"].Extensions)
	}
	if ext("finalize", extPatchStrategy) != "merge" || ext("finalize", extListType) != nil {
		t.Errorf("finalize extensions: %v (a merged list without a key is a set, not a map)", s.Properties["finalize"].Extensions)
	}
	if _, ok := defs["dev.shoal.openapi.part"]; !ok {
		t.Error("part has no definition")
	}
}

// testResources are the registry's kinds as the server describes them,
// with the verbs and subresources of a typical route set.
func testResources() []Resource {
	all := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	var out []Resource
	for _, k := range api.Kinds {
		r := Resource{Group: k.Group, Version: k.Version, Resource: k.Resource, Singular: k.Singular, Kind: k.Kind,
			Namespaced: k.Namespaced, Verbs: all, Object: k.New(), Registered: k}
		if k.HasStatus {
			r.Subresources = append(r.Subresources, Subresource{Name: "status", Group: k.Group, Version: k.Version, Kind: k.Kind,
				Verbs: []string{"get", "patch", "update"}})
		}
		if k == api.KindDeployment { // one scale subresource stands for all
			r.Subresources = append(r.Subresources, Subresource{Name: "scale", Group: "autoscaling", Version: "v1", Kind: "Scale",
				Verbs: []string{"get", "patch", "update"}, Object: &api.Scale{}})
		}
		out = append(out, r)
	}
	return append(out, Resource{Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectaccessreviews",
		Kind: "SelfSubjectAccessReview", Verbs: []string{"create"}, Object: &api.SelfSubjectAccessReview{}})
}

var opts = Options{Version: "test", PatchTypes: []string{"application/merge-patch+json", "application/apply-patch+yaml"}}

func TestV2HasEveryKindItsPathsAndFieldValidationOnEachPatch(t *testing.T) {
	doc := V2(testResources(), opts)
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handler.ToProtoBinary(j); err != nil {
		t.Fatalf("the v2 document does not convert to protobuf as kubectl reads it: %v", err)
	}
	kinds := map[string]bool{}
	for name, d := range doc.Definitions {
		var gvks []map[string]string
		if d.Extensions.GetObject(extGVK, &gvks) == nil && len(gvks) == 1 {
			kinds[gvks[0]["group"]+"/"+gvks[0]["kind"]] = true
			if d.Description == "" {
				t.Errorf("%s has no description", name)
			}
		}
		checkRefs(t, "v2 "+name, d, func(ref string) bool { _, ok := doc.Definitions[strings.TrimPrefix(ref, refV2)]; return ok })
	}
	for _, k := range api.Kinds {
		if !kinds[k.Group+"/"+k.Kind] || !kinds[k.Group+"/"+k.Kind+"List"] {
			t.Errorf("kind %s or its list has no definition with x-kubernetes-group-version-kind", k.Kind)
		}
		obj := doc.Paths.Paths[k.CollectionPath("{namespace}")+"/{name}"]
		if !k.Namespaced {
			obj = doc.Paths.Paths[k.CollectionPath("")+"/{name}"]
		}
		if obj.Patch == nil || obj.Get == nil || obj.Put == nil || obj.Delete == nil {
			t.Errorf("kind %s: object path lacks an operation: %+v", k.Kind, obj)
			continue
		}
		if !hasQueryParam(obj.Patch.Parameters, "fieldValidation") || !hasQueryParam(obj.Put.Parameters, "fieldValidation") {
			t.Errorf("kind %s: PATCH or PUT lacks fieldValidation", k.Kind)
		}
		if !slices.Equal(obj.Patch.Consumes, opts.PatchTypes) {
			t.Errorf("kind %s: PATCH consumes %v", k.Kind, obj.Patch.Consumes)
		}
		var gvk map[string]string
		if obj.Patch.Extensions.GetObject(extGVK, &gvk); gvk["kind"] != k.Kind || gvk["version"] != k.Version {
			t.Errorf("kind %s: PATCH gvk %v", k.Kind, gvk)
		}
		if k.HasStatus {
			st := doc.Paths.Paths[strings.Replace(k.CollectionPath("{namespace}"), "//", "/", 1)+"/{name}/status"]
			if !k.Namespaced {
				st = doc.Paths.Paths[k.CollectionPath("")+"/{name}/status"]
			}
			if st.Patch == nil || !hasQueryParam(st.Patch.Parameters, "fieldValidation") {
				t.Errorf("kind %s: status PATCH lacks fieldValidation", k.Kind)
			}
		}
	}
	// Server-side apply of /scale is refused: its PATCH does not offer it.
	scale := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
	if scale.Patch == nil || !slices.Equal(scale.Patch.Consumes, []string{"application/merge-patch+json"}) {
		t.Errorf("deployments/scale PATCH: %+v", scale.Patch)
	}
	pods := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods"]
	if pods.Post == nil || pods.Post.ID != "createCoreV1NamespacedPod" || !hasQueryParam(pods.Post.Parameters, "fieldValidation") ||
		pods.Get == nil || pods.Get.ID != "listCoreV1NamespacedPod" || !hasQueryParam(pods.Get.Parameters, "labelSelector") {
		t.Errorf("pods collection: %+v", pods)
	}
	if all := doc.Paths.Paths["/apis/apps/v1/deployments"]; all.Get == nil || all.Get.ID != "listAppsV1DeploymentForAllNamespaces" {
		t.Errorf("deployments in all namespaces: %+v", all)
	}
	if rev := doc.Paths.Paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]; rev.Post == nil {
		t.Error("selfsubjectaccessreviews has no POST")
	}
}

func hasQueryParam(ps []spec.Parameter, name string) bool {
	for _, p := range ps {
		if p.Name == name && p.In == "query" {
			return true
		}
	}
	return false
}

// checkRefs fails for any reference in s that resolves to nothing.
func checkRefs(t *testing.T, where string, s spec.Schema, ok func(string) bool) {
	t.Helper()
	if ref := s.Ref.String(); ref != "" && !ok(ref) {
		t.Errorf("%s: dangling reference %s", where, ref)
	}
	for name, p := range s.Properties {
		checkRefs(t, where+"."+name, p, ok)
	}
	if s.Items != nil && s.Items.Schema != nil {
		checkRefs(t, where+"[]", *s.Items.Schema, ok)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		checkRefs(t, where+"{}", *s.AdditionalProperties.Schema, ok)
	}
}

func TestV3HasOneSelfContainedDocumentPerGroupVersion(t *testing.T) {
	docs := V3(testResources(), opts)
	for _, key := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/rbac.authorization.k8s.io/v1", "apis/authorization.k8s.io/v1"} {
		doc, ok := docs[key]
		if !ok {
			t.Errorf("no document for %s", key)
			continue
		}
		j, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := handler3.ToV3ProtoBinary(j); err != nil {
			t.Errorf("%s: not convertible to protobuf: %v", key, err)
		}
		for name, s := range doc.Components.Schemas {
			checkRefs(t, key+" "+name, *s, func(ref string) bool { _, ok := doc.Components.Schemas[strings.TrimPrefix(ref, refV3)]; return ok })
		}
		for p, item := range doc.Paths.Paths {
			if !strings.HasPrefix(p, "/"+key+"/") {
				t.Errorf("%s holds path %s of another group version", key, p)
			}
			if item.Patch != nil && !slices.ContainsFunc(item.Patch.Parameters, func(p *spec3Param) bool { return p.Name == "fieldValidation" && p.In == "query" }) {
				t.Errorf("%s %s: PATCH lacks fieldValidation", key, p)
			}
		}
	}
	if _, ok := docs["apis/apps/v1"].Components.Schemas["dev.shoal.api.Pod"]; ok {
		t.Error("apps/v1 holds the Pod kind's schema, which only api/v1 should")
	}
	if _, ok := docs["apis/apps/v1"].Components.Schemas["dev.shoal.api.PodSpec"]; !ok {
		t.Error("apps/v1 lacks PodSpec, which its pod templates reach")
	}
}

type spec3Param = spec3.Parameter

func refOf(s spec.Schema) string { return s.Ref.String() }
