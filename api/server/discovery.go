package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/gorilla/mux"
	"github.com/munnerz/goautoneg"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/openapi"
)

// Discovery is read from the routes the server registered, so that a kind
// added to api.Kinds (or a subresource added to its routes) shows up in
// discovery and OpenAPI by itself.

// categoryAll are the kinds Kubernetes puts in the `all` category (what
// `kubectl get all` lists); a kind of this list that shoal serves gets it.
var categoryAll = map[string]bool{
	"Pod": true, "ReplicationController": true, "Service": true, "DaemonSet": true,
	"Deployment": true, "ReplicaSet": true, "StatefulSet": true,
	"HorizontalPodAutoscaler": true, "CronJob": true, "Job": true,
}

// subresourceKinds are the kinds the subresources carry, as Kubernetes
// declares them, with their Go types where they have one; a subresource
// not listed carries its parent's kind (status).
var subresourceKinds = map[string]openapi.Subresource{
	"scale":       {Group: "autoscaling", Version: "v1", Kind: "Scale", Object: &api.Scale{}},
	"log":         {Version: "v1", Kind: "Pod"}, // plain text
	"exec":        {Version: "v1", Kind: "PodExecOptions"},
	"attach":      {Version: "v1", Kind: "PodAttachOptions"},
	"portforward": {Version: "v1", Kind: "PodPortForwardOptions"},
	"binding":     {Version: "v1", Kind: "Binding", Object: &api.Binding{}},
	"top":         {Version: "v1", Kind: "PodTop", Object: &api.PodTop{}},
	// kubectl drain evicts only when discovery lists pods/eviction with
	// this group, version and kind; otherwise it deletes the pods,
	// passing over their PodDisruptionBudgets.
	"eviction": {Group: "policy", Version: "v1", Kind: "Eviction", Object: &api.Eviction{}},
}

// extraResources are the resources served outside the kind registry.
var extraResources = []openapi.Resource{
	{Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectaccessreviews", Singular: "selfsubjectaccessreview",
		Kind: "SelfSubjectAccessReview", Verbs: []string{api.VerbCreate}, Object: &api.SelfSubjectAccessReview{}},
	{Group: "authentication.k8s.io", Version: "v1", Resource: "selfsubjectreviews", Singular: "selfsubjectreview",
		Kind: "SelfSubjectReview", Verbs: []string{api.VerbCreate}, Object: &api.SelfSubjectReview{}},
}

// servedResources lists the resources of the kind registry with the verbs
// and subresources their routes serve, followed by extraResources.
func servedResources(router *mux.Router) []openapi.Resource {
	methods := map[string][]string{} // path template -> methods
	_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		ms, _ := route.GetMethods()
		methods[tpl] = append(methods[tpl], ms...)
		return nil
	})
	var out []openapi.Resource
	for _, k := range api.Kinds {
		coll := k.CollectionPath("")
		if k.Namespaced {
			coll = k.CollectionPath("{namespace}")
		}
		obj := coll + "/{name}"
		res := openapi.Resource{Group: k.Group, Version: k.Version, Resource: k.Resource, Singular: k.Singular,
			Kind: k.Kind, Namespaced: k.Namespaced, ShortNames: k.ShortNames, Object: k.New(), Registered: k}
		if categoryAll[k.Kind] {
			res.Categories = []string{"all"}
		}
		collVerbs := verbsOf(methods[coll], false)
		objVerbs := verbsOf(methods[obj], true)
		res.Verbs = sortedVerbs(append(collVerbs, objVerbs...))
		var subs []string
		for tpl := range methods {
			if name, ok := strings.CutPrefix(tpl, obj+"/"); ok && !strings.Contains(name, "/") {
				subs = append(subs, name)
			}
		}
		sort.Strings(subs)
		for _, name := range subs {
			sub, ok := subresourceKinds[name]
			if !ok {
				sub = openapi.Subresource{Group: k.Group, Version: k.Version, Kind: k.Kind}
			}
			sub.Name, sub.Verbs = name, sortedVerbs(verbsOf(methods[obj+"/"+name], true))
			res.Subresources = append(res.Subresources, sub)
		}
		out = append(out, res)
	}
	for _, e := range append(slices.Clone(extraResources), append(metricsResources, hpaV1Resource)...) {
		if len(methods[openapi.PathPrefix(e.Group, e.Version)+"/"+e.Resource]) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// verbsOf turns the methods of a collection's or an object's path into
// Kubernetes verbs.
func verbsOf(methods []string, object bool) []string {
	var verbs []string
	for _, m := range methods {
		switch {
		case m == http.MethodGet && object:
			verbs = append(verbs, api.VerbGet)
		case m == http.MethodGet:
			verbs = append(verbs, api.VerbList, api.VerbWatch) // the list handler serves ?watch=true
		case m == http.MethodPost:
			verbs = append(verbs, api.VerbCreate)
		case m == http.MethodPut:
			verbs = append(verbs, api.VerbUpdate)
		case m == http.MethodPatch:
			verbs = append(verbs, api.VerbPatch)
		case m == http.MethodDelete && object:
			verbs = append(verbs, api.VerbDelete)
		case m == http.MethodDelete:
			verbs = append(verbs, api.VerbDeleteCollection)
		}
	}
	return verbs
}

func sortedVerbs(v []string) []string {
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

// discovery holds the documents of the discovery endpoints, built once.
type discovery struct {
	versions      []string                            // of the core group
	groups        []metav1.APIGroup                   // named groups, in order of first appearance
	resourceLists map[string]*metav1.APIResourceList  // by group/version path prefix
	aggregated    map[string]*aggregatedDiscoveryList // "/api" and "/apis"
	byPrefix      map[string][]openapi.Resource       // group/version path prefix -> resources
}

func newDiscovery(resources []openapi.Resource) *discovery {
	d := &discovery{resourceLists: map[string]*metav1.APIResourceList{}, byPrefix: map[string][]openapi.Resource{},
		aggregated: map[string]*aggregatedDiscoveryList{}}
	groupIndex := map[string]int{}
	var order []string // group/version prefixes in order
	for _, r := range resources {
		prefix := openapi.PathPrefix(r.Group, r.Version)
		if _, ok := d.byPrefix[prefix]; !ok {
			order = append(order, prefix)
			gv := metav1.GroupVersionForDiscovery{GroupVersion: r.GroupVersion(), Version: r.Version}
			switch i, ok := groupIndex[r.Group]; {
			case r.Group == "":
				d.versions = append(d.versions, r.Version)
			case ok:
				d.groups[i].Versions = append(d.groups[i].Versions, gv)
			default:
				groupIndex[r.Group] = len(d.groups)
				d.groups = append(d.groups, metav1.APIGroup{Name: r.Group, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
			}
		}
		d.byPrefix[prefix] = append(d.byPrefix[prefix], r)
	}
	for _, prefix := range order {
		rs := d.byPrefix[prefix]
		list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: rs[0].GroupVersion(), APIResources: []metav1.APIResource{}}
		for _, r := range rs {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: r.Resource, SingularName: r.Singular,
				Namespaced: r.Namespaced, Kind: r.Kind, Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories})
			for _, s := range r.Subresources {
				ar := metav1.APIResource{Name: r.Resource + "/" + s.Name, Namespaced: r.Namespaced, Kind: s.Kind, Verbs: s.Verbs}
				if s.Group != r.Group || s.Version != r.Version {
					ar.Group, ar.Version = s.Group, s.Version
				}
				list.APIResources = append(list.APIResources, ar)
			}
		}
		d.resourceLists[prefix] = list
	}
	d.aggregated["/api"] = d.aggregate(order, true)
	d.aggregated["/apis"] = d.aggregate(order, false)
	return d
}

// The aggregated discovery document (apidiscovery.k8s.io/v2), which
// kubectl asks for first: every group, version and resource in one answer.
// Its types live in k8s.io/api, which the server does not import; the tests
// decode these into them.
type aggregatedDiscoveryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []aggregatedGroup `json:"items"`
}

type aggregatedGroup struct {
	metav1.ObjectMeta `json:"metadata"`
	Versions          []aggregatedVersion `json:"versions"`
}

type aggregatedVersion struct {
	Version   string               `json:"version"`
	Resources []aggregatedResource `json:"resources"`
	Freshness string               `json:"freshness"`
}

type aggregatedResource struct {
	Resource         string                   `json:"resource"`
	ResponseKind     *metav1.GroupVersionKind `json:"responseKind"`
	Scope            string                   `json:"scope"`
	SingularResource string                   `json:"singularResource"`
	Verbs            []string                 `json:"verbs"`
	ShortNames       []string                 `json:"shortNames,omitempty"`
	Categories       []string                 `json:"categories,omitempty"`
	Subresources     []aggregatedSubresource  `json:"subresources,omitempty"`
}

type aggregatedSubresource struct {
	Subresource  string                   `json:"subresource"`
	ResponseKind *metav1.GroupVersionKind `json:"responseKind"`
	Verbs        []string                 `json:"verbs"`
}

// aggregate builds the aggregated document of the core group (core) or of
// the named groups.
func (d *discovery) aggregate(order []string, core bool) *aggregatedDiscoveryList {
	list := &aggregatedDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"},
		Items: []aggregatedGroup{}}
	groupIndex := map[string]int{}
	for _, prefix := range order {
		rs := d.byPrefix[prefix]
		group := rs[0].Group
		if (group == "") != core {
			continue
		}
		i, ok := groupIndex[group]
		if !ok {
			i = len(list.Items)
			groupIndex[group] = i
			list.Items = append(list.Items, aggregatedGroup{ObjectMeta: metav1.ObjectMeta{Name: group}})
		}
		v := aggregatedVersion{Version: rs[0].Version, Freshness: "Current"}
		for _, r := range rs {
			scope := "Cluster"
			if r.Namespaced {
				scope = "Namespaced"
			}
			ar := aggregatedResource{Resource: r.Resource, Scope: scope, SingularResource: r.Singular, Verbs: r.Verbs,
				ShortNames: r.ShortNames, Categories: r.Categories,
				ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}}
			for _, s := range r.Subresources {
				ar.Subresources = append(ar.Subresources, aggregatedSubresource{Subresource: s.Name, Verbs: s.Verbs,
					ResponseKind: &metav1.GroupVersionKind{Group: s.Group, Version: s.Version, Kind: s.Kind}})
			}
			v.Resources = append(v.Resources, ar)
		}
		list.Items[i].Versions = append(list.Items[i].Versions, v)
	}
	return list
}

// Media types of discovery.
const (
	aggregatedDiscoveryType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
)

// wantsAggregated reads the Accept header as Kubernetes does: the first
// clause (by preference) that names the aggregated document, or plain
// JSON, decides.
func wantsAggregated(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	for _, c := range goautoneg.ParseAccept(accept) {
		if c.Type != "application" && c.Type != "*" || c.SubType != "json" && c.SubType != "*" {
			continue
		}
		if c.Params["g"] == "" && c.Params["as"] == "" {
			return false // plain JSON
		}
		if c.Params["g"] == "apidiscovery.k8s.io" && c.Params["v"] == "v2" && c.Params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

// writeDiscovery answers one discovery document, saying that the answer
// depends on the Accept header.
func writeDiscovery(w http.ResponseWriter, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, api.NewInternal(err))
		return
	}
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Server) discoveryRoutes() {
	r := s.router
	d := s.discovery
	r.HandleFunc("/api", func(w http.ResponseWriter, req *http.Request) {
		if wantsAggregated(req) {
			writeDiscovery(w, aggregatedDiscoveryType, d.aggregated["/api"])
			return
		}
		writeDiscovery(w, "application/json", &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions:                   d.versions,
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: req.Host}}})
	}).Methods(http.MethodGet)
	r.HandleFunc("/apis", func(w http.ResponseWriter, req *http.Request) {
		if wantsAggregated(req) {
			writeDiscovery(w, aggregatedDiscoveryType, d.aggregated["/apis"])
			return
		}
		writeDiscovery(w, "application/json", &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups: d.groups})
	}).Methods(http.MethodGet)
	for _, g := range d.groups {
		g := g
		g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		r.HandleFunc("/apis/"+g.Name, func(w http.ResponseWriter, _ *http.Request) {
			writeDiscovery(w, "application/json", &g)
		}).Methods(http.MethodGet)
	}
	for prefix, list := range d.resourceLists {
		r.HandleFunc(prefix, func(w http.ResponseWriter, _ *http.Request) {
			writeDiscovery(w, "application/json", list)
		}).Methods(http.MethodGet)
	}
}
