package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/shoal-dev/shoal/api"
)

// Reference prefixes of the two document versions.
const (
	refV2 = "#/definitions/"
	refV3 = "#/components/schemas/"
)

// Options describe the server the documents are of.
type Options struct {
	// Version is the server's version, the documents' info.version.
	Version string
	// PatchTypes are the content types a PATCH accepts.
	PatchTypes []string
}

// V2 builds the OpenAPI v2 document of the resources: a definition of each
// kind (with x-kubernetes-group-version-kind), of its list, of the types
// they hold, and the paths with their operations and parameters.
func V2(resources []Resource, opts Options) *spec.Swagger {
	b := NewSchemas(refV2)
	defineKinds(b, resources)
	paths := &spec.Paths{Paths: map[string]spec.PathItem{}}
	for _, p := range pathsOf(b, resources, opts) {
		paths.Paths[p.path] = p.v2(b)
	}
	defs := spec.Definitions{}
	for name, s := range b.Definitions() {
		defs[name] = s
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "shoal", Version: opts.Version}},
		Paths:       paths,
		Definitions: defs,
	}}
}

// V3 builds one OpenAPI v3 document per group version, keyed as the
// /openapi/v3 index names them: "api/v1", "apis/apps/v1". Each holds the
// paths of its group version and the schemas they reach.
func V3(resources []Resource, opts Options) map[string]*spec3.OpenAPI {
	b := NewSchemas(refV3)
	defineKinds(b, resources)
	byGV := map[string][]*pathSpec{}
	for _, p := range pathsOf(b, resources, opts) {
		key := strings.TrimPrefix(PathPrefix(p.group, p.version), "/")
		byGV[key] = append(byGV[key], p)
	}
	out := map[string]*spec3.OpenAPI{}
	for key, ps := range byGV {
		doc := &spec3.OpenAPI{Version: "3.0.0",
			Info:       &spec.Info{InfoProps: spec.InfoProps{Title: "shoal", Version: opts.Version}},
			Paths:      &spec3.Paths{Paths: map[string]*spec3.Path{}},
			Components: &spec3.Components{Schemas: map[string]*spec.Schema{}}}
		var roots []string
		for _, p := range ps {
			doc.Paths.Paths[p.path] = p.v3(b)
			roots = append(roots, p.refs...)
		}
		for _, r := range resources {
			if PathPrefix(r.Group, r.Version) == "/"+key {
				roots = append(roots, DefinitionName(reflect.TypeOf(r.Object)))
			}
		}
		for _, name := range reachable(b.Definitions(), roots) {
			s := b.Definitions()[name]
			doc.Components.Schemas[name] = &s
		}
		out[key] = doc
	}
	return out
}

// V3Keys are the keys of the documents V3 builds, without building them.
func V3Keys(resources []Resource) []string {
	var keys []string
	for _, r := range resources {
		key := strings.TrimPrefix(PathPrefix(r.Group, r.Version), "/")
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	return keys
}

// defineKinds defines each resource's type, marked with its kind, and the
// list kind of each registered kind.
func defineKinds(b *Schemas, resources []Resource) {
	for _, r := range resources {
		t := reflect.TypeOf(r.Object)
		name := b.Define(t)
		s := b.defs[name]
		s.AddExtension(extGVK, []map[string]string{{"group": r.Group, "version": r.Version, "kind": r.Kind}})
		s.Description = kindDescriptions[r.Kind]
		if s.Description == "" {
			s.Description = fmt.Sprintf("%s is a kind of %s served by shoal.", r.Kind, r.GroupVersion())
		}
		b.defs[name] = s
		describeParts(b, t, r.Kind)
		if r.Registered == nil {
			continue
		}
		list := spec.Schema{}
		list.Type = spec.StringOrArray{"object"}
		list.Description = fmt.Sprintf("%sList is a list of %s objects.", r.Kind, r.Kind)
		items := b.Ref(name)
		list.Properties = map[string]spec.Schema{
			"apiVersion": *spec.StringProperty().WithDescription(fieldDescriptions["apiVersion"]),
			"kind":       *spec.StringProperty().WithDescription(fieldDescriptions["kind"]),
			"metadata":   b.Ref(b.Define(reflect.TypeFor[api.ListMeta]())),
			"items":      *spec.ArrayProperty(&items),
		}
		list.Required = []string{"items"}
		list.AddExtension(extGVK, []map[string]string{{"group": r.Group, "version": r.Version, "kind": r.Kind + "List"}})
		b.defs[name+"List"] = list
	}
}

// describeParts gives the kind's spec and status types a sentence each.
func describeParts(b *Schemas, t reflect.Type, kind string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for part, what := range map[string]string{"spec": "the desired state", "status": "the observed state, written by the system,"} {
		f, ok := t.FieldByName(strings.ToUpper(part[:1]) + part[1:])
		if !ok {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct || ft.Name() == "" {
			continue
		}
		name := b.Define(ft)
		if s := b.defs[name]; s.Description == "" {
			s.Description = fmt.Sprintf("%s is %s of a %s.", ft.Name(), what, kind)
			b.defs[name] = s
		}
	}
}

// reachable lists the definitions the roots refer to, directly or not.
func reachable(defs map[string]spec.Schema, roots []string) []string {
	seen := map[string]bool{}
	var visit func(name string)
	var walk func(s *spec.Schema)
	walk = func(s *spec.Schema) {
		if s == nil {
			return
		}
		if ref := s.Ref.String(); ref != "" {
			visit(ref[strings.LastIndexByte(ref, '/')+1:])
		}
		for _, p := range s.Properties {
			walk(&p)
		}
		if s.Items != nil {
			walk(s.Items.Schema)
		}
		if s.AdditionalProperties != nil {
			walk(s.AdditionalProperties.Schema)
		}
		for i := range s.AllOf {
			walk(&s.AllOf[i])
		}
	}
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		if s, ok := defs[name]; ok {
			walk(&s)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		if _, ok := defs[name]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// A param is one query or path parameter.
type param struct {
	name, in, typ, description string
}

// Parameters of the operations, as Kubernetes names them.
var (
	pName      = param{"name", "path", "string", "name of the object"}
	pNamespace = param{"namespace", "path", "string", "object name and auth scope, such as for teams and projects"}
	pPretty    = param{"pretty", "query", "string", "If 'true', then the output is pretty printed."}

	pLabelSelector   = param{"labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."}
	pFieldSelector   = param{"fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."}
	pResourceVersion = param{"resourceVersion", "query", "string", "With watch, the version after which changes are sent."}
	pWatch           = param{"watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."}
	pTimeoutSeconds  = param{"timeoutSeconds", "query", "integer", "Timeout for the list/watch call."}

	pDryRun          = param{"dryRun", "query", "string", "When present, indicates that modifications should not be persisted. The only valid value is: All."}
	pFieldManager    = param{"fieldManager", "query", "string", "fieldManager is a name associated with the actor or entity that is making these changes."}
	pFieldValidation = param{"fieldValidation", "query", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. " +
		"Valid values are: Ignore (drop them silently), Warn (the default: a Warning header for each), Strict (refuse the request with a BadRequest error naming them)."}
	pForce = param{"force", "query", "boolean", "Force is going to \"force\" Apply requests."}

	pGracePeriod       = param{"gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted."}
	pPropagationPolicy = param{"propagationPolicy", "query", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground."}

	listParams   = []param{pLabelSelector, pFieldSelector, pResourceVersion, pTimeoutSeconds, pWatch}
	writeParams  = []param{pDryRun, pFieldManager, pFieldValidation}
	patchParams  = []param{pDryRun, pFieldManager, pFieldValidation, pForce}
	deleteParams = []param{pDryRun, pGracePeriod, pPropagationPolicy}
)

// operation is one method on one path.
type operation struct {
	method, id, action, description string
	gvk                             map[string]string
	params                          []param
	body                            string // definition of the request body, if any
	response                        string // definition of the answer ("" for plain text)
	consumes                        []string
}

// pathSpec is one path and its operations, built once and written out in
// either version.
type pathSpec struct {
	group, version string
	path           string
	params         []param // of every operation: path parameters and pretty
	ops            []operation
	refs           []string // definitions the operations name
}

// pathsOf lists the paths of the resources, with one operation per verb.
func pathsOf(b *Schemas, resources []Resource, opts Options) []*pathSpec {
	var out []*pathSpec
	for _, r := range resources {
		if r.Registered == nil {
			out = append(out, extraPath(r))
			continue
		}
		out = append(out, kindPaths(b, r, opts)...)
	}
	return out
}

func gvkOf(group, version, kind string) map[string]string {
	return map[string]string{"group": group, "version": version, "kind": kind}
}

// opID names an operation as Kubernetes does: listAppsV1NamespacedDeployment.
func opID(verb, group, version, scope, kind, suffix string) string {
	g := "Core"
	if group != "" {
		g = ""
		for part := range strings.SplitSeq(strings.TrimSuffix(group, ".k8s.io"), ".") {
			g += strings.ToUpper(part[:1]) + part[1:]
		}
	}
	return verb + g + strings.ToUpper(version[:1]) + version[1:] + scope + kind + suffix
}

func kindPaths(b *Schemas, r Resource, opts Options) []*pathSpec {
	k := r.Registered
	name := DefinitionName(reflect.TypeOf(r.Object))
	gvk := gvkOf(r.Group, r.Version, r.Kind)
	scope, coll := "", k.CollectionPath("")
	collParams := []param{pPretty}
	if r.Namespaced {
		scope, coll = "Namespaced", k.CollectionPath("{namespace}")
		collParams = []param{pNamespace, pPretty}
	}
	objParams := append([]param{pName}, collParams...)
	has := func(v string) bool { return slices.Contains(r.Verbs, v) }
	collPath := &pathSpec{group: r.Group, version: r.Version, path: coll, params: collParams, refs: []string{name, name + "List"}}
	if has(api.VerbList) {
		collPath.ops = append(collPath.ops, operation{method: http.MethodGet, id: opID("list", r.Group, r.Version, scope, r.Kind, ""),
			action: "list", description: "list or watch objects of kind " + r.Kind, gvk: gvk, params: listParams, response: name + "List"})
	}
	if has(api.VerbCreate) {
		collPath.ops = append(collPath.ops, operation{method: http.MethodPost, id: opID("create", r.Group, r.Version, scope, r.Kind, ""),
			action: "post", description: "create " + article(r.Kind), gvk: gvk, params: writeParams, body: name, response: name})
	}
	if has(api.VerbDeleteCollection) {
		collPath.ops = append(collPath.ops, operation{method: http.MethodDelete, id: opID("deletecollection", r.Group, r.Version, scope, r.Kind, ""),
			action: "deletecollection", description: "delete collection of " + r.Kind, gvk: gvk,
			params: append(slices.Clone(listParams[:len(listParams)-1]), deleteParams...), response: name + "List"})
	}
	objPath := &pathSpec{group: r.Group, version: r.Version, path: coll + "/{name}", params: objParams, refs: []string{name}}
	objPath.ops = objectOps(r.Verbs, r.Group, r.Version, scope, r.Kind, "", gvk, name, opts)
	out := []*pathSpec{collPath, objPath}
	if r.Namespaced && has(api.VerbList) {
		out = append(out, &pathSpec{group: r.Group, version: r.Version, path: k.CollectionPath(""), params: []param{pPretty},
			refs: []string{name + "List"},
			ops: []operation{{method: http.MethodGet, id: opID("list", r.Group, r.Version, "", r.Kind, "ForAllNamespaces"),
				action: "list", description: "list or watch objects of kind " + r.Kind + " in every namespace", gvk: gvk,
				params: listParams, response: name + "List"}}})
	}
	for _, s := range r.Subresources {
		subName := name
		switch {
		case s.Object != nil:
			subName = defineSubresourceKind(b, s)
		case s.Group != r.Group || s.Version != r.Version || s.Kind != r.Kind:
			subName = "" // plain text, or a kind without a Go type: no schema
		}
		suffix := strings.ToUpper(s.Name[:1]) + s.Name[1:]
		sp := &pathSpec{group: r.Group, version: r.Version, path: coll + "/{name}/" + s.Name, params: objParams}
		if subName != "" {
			sp.refs = []string{subName}
		}
		sp.ops = objectOps(s.Verbs, r.Group, r.Version, scope, r.Kind, suffix, gvkOf(s.Group, s.Version, s.Kind), subName, opts)
		out = append(out, sp)
	}
	return out
}

// defineSubresourceKind defines the type a subresource carries, marked with
// its kind (autoscaling/v1 Scale), and returns its name.
func defineSubresourceKind(b *Schemas, s Subresource) string {
	name := b.Define(reflect.TypeOf(s.Object))
	def := b.defs[name]
	if def.Extensions[extGVK] == nil {
		def.AddExtension(extGVK, []map[string]string{{"group": s.Group, "version": s.Version, "kind": s.Kind}})
	}
	if def.Description == "" {
		def.Description = kindDescriptions[s.Kind]
	}
	if def.Description == "" {
		def.Description = fmt.Sprintf("%s is what the %s subresource carries.", s.Kind, s.Name)
	}
	b.defs[name] = def
	return name
}

// objectOps are the operations on one object's path (or a subresource's).
func objectOps(verbs []string, group, version, scope, kind, suffix string, gvk map[string]string, def string, opts Options) []operation {
	var ops []operation
	for _, v := range verbs {
		op := operation{gvk: gvk, body: def, response: def}
		switch v {
		case api.VerbGet:
			op.method, op.action, op.id, op.body = http.MethodGet, "get", opID("read", group, version, scope, kind, suffix), ""
			op.description = "read the specified " + kind + strings.ToLower(suffix)
		case api.VerbCreate:
			if suffix == "" {
				continue // creating is the collection's
			}
			op.method, op.action, op.id = http.MethodPost, "post", opID("create", group, version, scope, kind, suffix)
			op.description, op.params = "create "+strings.ToLower(suffix)+" of "+article(kind), writeParams
		case api.VerbUpdate:
			op.method, op.action, op.id = http.MethodPut, "put", opID("replace", group, version, scope, kind, suffix)
			op.description, op.params = "replace the specified "+kind+strings.ToLower(suffix), writeParams
		case api.VerbPatch:
			op.method, op.action, op.id = http.MethodPatch, "patch", opID("patch", group, version, scope, kind, suffix)
			op.description, op.params, op.consumes = "partially update the specified "+kind+strings.ToLower(suffix), patchParams, opts.PatchTypes
			if suffix == "Scale" {
				// Server-side apply of /scale is refused (415): not listed.
				op.consumes = slices.DeleteFunc(slices.Clone(opts.PatchTypes), func(t string) bool { return strings.HasPrefix(t, "application/apply-patch") })
			}
		case api.VerbDelete:
			op.method, op.action, op.id, op.body = http.MethodDelete, "delete", opID("delete", group, version, scope, kind, suffix), ""
			op.description, op.params = "delete "+article(kind), deleteParams
		default:
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

// extraPath is the path of a resource outside the registry: the access
// reviews, which only take a POST.
func extraPath(r Resource) *pathSpec {
	name := DefinitionName(reflect.TypeOf(r.Object))
	return &pathSpec{group: r.Group, version: r.Version, path: PathPrefix(r.Group, r.Version) + "/" + r.Resource,
		params: []param{pPretty}, refs: []string{name},
		ops: []operation{{method: http.MethodPost, id: opID("create", r.Group, r.Version, "", r.Kind, ""), action: "post",
			description: "create " + article(r.Kind), gvk: gvkOf(r.Group, r.Version, r.Kind),
			params: writeParams, body: name, response: name}}}
}

func article(kind string) string {
	if strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// v2 writes the path as a Swagger path item.
func (p *pathSpec) v2(b *Schemas) spec.PathItem {
	item := spec.PathItem{}
	for _, pr := range p.params {
		item.Parameters = append(item.Parameters, pr.v2())
	}
	for _, o := range p.ops {
		op := &spec.Operation{OperationProps: spec.OperationProps{ID: o.id, Description: o.description,
			Consumes: o.consumes, Produces: []string{"application/json", "application/yaml"}, Schemes: []string{"https"},
			Responses: &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}}}}
		if o.consumes == nil {
			op.Consumes = []string{"*/*"}
		}
		op.AddExtension(extAction, o.action)
		op.AddExtension(extGVK, o.gvk)
		if o.body != "" {
			ref := b.Ref(o.body)
			op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{Name: "body", In: "body", Required: true, Schema: &ref}})
		}
		for _, pr := range o.params {
			op.Parameters = append(op.Parameters, pr.v2())
		}
		resp := spec.Response{ResponseProps: spec.ResponseProps{Description: "OK"}}
		if o.response != "" {
			ref := b.Ref(o.response)
			resp.Schema = &ref
		} else {
			resp.Schema = spec.StringProperty()
		}
		op.Responses.StatusCodeResponses[http.StatusOK] = resp
		if o.method == http.MethodPost {
			op.Responses.StatusCodeResponses[http.StatusCreated] = resp
		}
		op.Responses.StatusCodeResponses[http.StatusUnauthorized] = spec.Response{ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}
		switch o.method {
		case http.MethodGet:
			item.Get = op
		case http.MethodPost:
			item.Post = op
		case http.MethodPut:
			item.Put = op
		case http.MethodPatch:
			item.Patch = op
		case http.MethodDelete:
			item.Delete = op
		}
	}
	return item
}

func (pr param) v2() spec.Parameter {
	p := spec.Parameter{ParamProps: spec.ParamProps{Name: pr.name, In: pr.in, Description: pr.description, Required: pr.in == "path"},
		SimpleSchema: spec.SimpleSchema{Type: pr.typ}}
	p.UniqueItems = true
	return p
}

// v3 writes the path as an OpenAPI v3 path.
func (p *pathSpec) v3(b *Schemas) *spec3.Path {
	item := &spec3.Path{}
	for _, pr := range p.params {
		item.Parameters = append(item.Parameters, pr.v3())
	}
	for _, o := range p.ops {
		op := &spec3.Operation{OperationProps: spec3.OperationProps{OperationId: o.id, Description: o.description,
			Responses: &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}}}}
		op.AddExtension(extAction, o.action)
		op.AddExtension(extGVK, o.gvk)
		for _, pr := range o.params {
			op.Parameters = append(op.Parameters, pr.v3())
		}
		if o.body != "" {
			types := o.consumes
			if types == nil {
				types = []string{"application/json", "application/yaml"}
			}
			content := map[string]*spec3.MediaType{}
			for _, t := range types {
				ref := b.Ref(o.body)
				content[t] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: &ref}}
			}
			op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{Content: content, Required: true}}
		}
		resp := &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "OK", Content: map[string]*spec3.MediaType{}}}
		if o.response != "" {
			for _, t := range []string{"application/json", "application/yaml"} {
				ref := b.Ref(o.response)
				resp.Content[t] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: &ref}}
			}
		} else {
			resp.Content["text/plain"] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: spec.StringProperty()}}
		}
		op.Responses.StatusCodeResponses[http.StatusOK] = resp
		if o.method == http.MethodPost {
			op.Responses.StatusCodeResponses[http.StatusCreated] = resp
		}
		op.Responses.StatusCodeResponses[http.StatusUnauthorized] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}
		switch o.method {
		case http.MethodGet:
			item.Get = op
		case http.MethodPost:
			item.Post = op
		case http.MethodPut:
			item.Put = op
		case http.MethodPatch:
			item.Patch = op
		case http.MethodDelete:
			item.Delete = op
		}
	}
	return item
}

func (pr param) v3() *spec3.Parameter {
	s := &spec.Schema{}
	s.Type = spec.StringOrArray{pr.typ}
	s.UniqueItems = true
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{Name: pr.name, In: pr.in, Description: pr.description,
		Required: pr.in == "path", Schema: s}}
}

// Models returns the schemas of the resources' kinds and of every type they
// hold, named and referring to each other as in the v3 documents, with
// extensions in the plain JSON shapes a reader of a served document sees
// (server-side apply builds its type converter from them).
func Models(resources []Resource) (map[string]*spec.Schema, error) {
	b := NewSchemas(refV3)
	defineKinds(b, resources)
	raw, err := json.Marshal(b.Definitions())
	if err != nil {
		return nil, fmt.Errorf("openapi models: %w", err)
	}
	out := map[string]*spec.Schema{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("openapi models: %w", err)
	}
	return out, nil
}
