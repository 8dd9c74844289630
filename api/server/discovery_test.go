package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/shoal-dev/shoal/api"
)

// get answers a GET with the Accept header given.
func get(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b.Bytes())
	}
	return resp, b.Bytes()
}

// decodeStrict decodes into a Kubernetes type, refusing any field it lacks.
func decodeStrict(t *testing.T, b []byte, into any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("decode %T: %v\n%s", into, err, b)
	}
}

func findResource(list *metav1.APIResourceList, name string) *metav1.APIResource {
	for i := range list.APIResources {
		if list.APIResources[i].Name == name {
			return &list.APIResources[i]
		}
	}
	return nil
}

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func TestLegacyDiscoveryDocumentsAreKubernetesTypes(t *testing.T) {
	ts, _ := newServer(t)

	var versions metav1.APIVersions
	_, b := get(t, ts.URL+"/api", "application/json")
	decodeStrict(t, b, &versions)
	if versions.Kind != "APIVersions" || !slices.Equal(versions.Versions, []string{"v1"}) || len(versions.ServerAddressByClientCIDRs) != 1 {
		t.Fatalf("/api = %+v", versions)
	}

	var groups metav1.APIGroupList
	_, b = get(t, ts.URL+"/apis", "")
	decodeStrict(t, b, &groups)
	byName := map[string]metav1.APIGroup{}
	for _, g := range groups.Groups {
		byName[g.Name] = g
	}
	for _, name := range []string{"apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "authorization.k8s.io", "authentication.k8s.io"} {
		g, ok := byName[name]
		if !ok || g.PreferredVersion.GroupVersion != name+"/v1" || len(g.Versions) != 1 {
			t.Errorf("/apis group %s = %+v", name, g)
		}
	}
	if _, ok := byName[""]; ok {
		t.Error("/apis lists the core group; it belongs in /api")
	}
	var group metav1.APIGroup
	_, b = get(t, ts.URL+"/apis/apps", "")
	decodeStrict(t, b, &group)
	if group.Name != "apps" || group.PreferredVersion.Version != "v1" {
		t.Errorf("/apis/apps = %+v", group)
	}

	var core metav1.APIResourceList
	_, b = get(t, ts.URL+"/api/v1", "")
	decodeStrict(t, b, &core)
	pods := findResource(&core, "pods")
	if core.GroupVersion != "v1" || pods == nil || pods.SingularName != "pod" || !pods.Namespaced || pods.Kind != "Pod" ||
		!slices.Equal(pods.Verbs, allVerbs) || !slices.Equal(pods.ShortNames, []string{"po"}) || !slices.Equal(pods.Categories, []string{"all"}) {
		t.Fatalf("pods = %+v", pods)
	}
	for name, verbs := range map[string][]string{"pods/log": {"get"}, "pods/exec": {"create", "get"},
		"pods/status": {"get", "patch", "update"}, "pods/binding": {"create"}} {
		if r := findResource(&core, name); r == nil || !slices.Equal(r.Verbs, verbs) || !r.Namespaced {
			t.Errorf("%s = %+v, want verbs %v", name, r, verbs)
		}
	}
	// kubectl drain evicts (honouring budgets) only when it finds this
	// entry; without it, it deletes the pods.
	if r := findResource(&core, "pods/eviction"); r == nil || r.Kind != "Eviction" || r.Group != "policy" || r.Version != "v1" ||
		!slices.Equal(r.Verbs, []string{"create"}) {
		t.Errorf("pods/eviction = %+v", r)
	}
	if r := findResource(&core, "replicationcontrollers/scale"); r == nil || r.Kind != "Scale" || r.Group != "autoscaling" {
		t.Errorf("replicationcontrollers/scale = %+v", r)
	}
	if ns := findResource(&core, "namespaces"); ns == nil || ns.Namespaced || len(ns.Categories) != 0 {
		t.Errorf("namespaces = %+v", ns)
	}

	var apps metav1.APIResourceList
	_, b = get(t, ts.URL+"/apis/apps/v1", "")
	decodeStrict(t, b, &apps)
	if d := findResource(&apps, "deployments"); d == nil || d.Kind != "Deployment" || !slices.Equal(d.ShortNames, []string{"deploy"}) ||
		!slices.Equal(d.Categories, []string{"all"}) {
		t.Errorf("deployments = %+v", d)
	}
	if s := findResource(&apps, "deployments/scale"); s == nil || s.Kind != "Scale" || s.Group != "autoscaling" || s.Version != "v1" {
		t.Errorf("deployments/scale = %+v", s)
	}
	if s := findResource(&apps, "deployments/status"); s == nil || s.Kind != "Deployment" {
		t.Errorf("deployments/status = %+v", s)
	}

	// The registry is the one source: every kind is listed where it belongs.
	for _, k := range api.Kinds {
		var list metav1.APIResourceList
		_, b := get(t, ts.URL+strings.TrimSuffix(k.CollectionPath(""), "/"+k.Resource), "")
		decodeStrict(t, b, &list)
		if r := findResource(&list, k.Resource); r == nil || r.Kind != k.Kind || r.Namespaced != k.Namespaced {
			t.Errorf("kind %s: resource %+v", k.Kind, r)
		}
	}
}

// acceptAggregated is the Accept header client-go's discovery sends.
const acceptAggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

func TestAggregatedDiscoveryMatchesTheLegacyDocuments(t *testing.T) {
	ts, _ := newServer(t)
	var all apidiscoveryv2.APIGroupDiscoveryList
	for _, path := range []string{"/api", "/apis"} {
		resp, b := get(t, ts.URL+path, acceptAggregated)
		gvk := schema.GroupVersionKind{Group: "apidiscovery.k8s.io", Version: "v2", Kind: "APIGroupDiscoveryList"}
		if ok, err := discovery.ContentTypeIsGVK(resp.Header.Get("Content-Type"), gvk); !ok || err != nil {
			t.Fatalf("%s: Content-Type %q is not the aggregated document's", path, resp.Header.Get("Content-Type"))
		}
		var list apidiscoveryv2.APIGroupDiscoveryList
		decodeStrict(t, b, &list)
		if list.Kind != "APIGroupDiscoveryList" || list.APIVersion != "apidiscovery.k8s.io/v2" {
			t.Fatalf("%s: %s %s", path, list.APIVersion, list.Kind)
		}
		all.Items = append(all.Items, list.Items...)
	}
	if all.Items[0].Name != "" {
		t.Fatalf("/api's group is %q, want the core group", all.Items[0].Name)
	}
	// client-go's own conversion of the aggregated document must give the
	// legacy documents, resource for resource.
	groups, resources, failed := discovery.SplitGroupsAndResources(all)
	if len(failed) != 0 {
		t.Fatalf("stale group versions: %v", failed)
	}
	if len(groups.Groups) != len(all.Items) {
		t.Fatalf("%d groups from %d", len(groups.Groups), len(all.Items))
	}
	for gv, list := range resources {
		path := "/apis/" + gv.String()
		if gv.Group == "" {
			path = "/api/" + gv.Version
		}
		var legacy metav1.APIResourceList
		_, b := get(t, ts.URL+path, "")
		decodeStrict(t, b, &legacy)
		if len(list.APIResources) != len(legacy.APIResources) {
			t.Errorf("%s: %d resources aggregated, %d legacy", gv, len(list.APIResources), len(legacy.APIResources))
			continue
		}
		for _, a := range list.APIResources {
			l := findResource(&legacy, a.Name)
			if l == nil || a.Kind != l.Kind || !slices.Equal(a.Verbs, l.Verbs) || a.Namespaced != l.Namespaced ||
				!slices.Equal(a.ShortNames, l.ShortNames) || !slices.Equal(a.Categories, l.Categories) {
				t.Errorf("%s %s: aggregated %+v, legacy %+v", gv, a.Name, a, l)
			}
		}
	}
	// Plain JSON first, or no Accept: the legacy document.
	resp, _ := get(t, ts.URL+"/apis", "application/json, "+acceptAggregated)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || resp.Header.Get("Vary") != "Accept" {
		t.Errorf("Accept: plain JSON first: Content-Type %q, Vary %q", ct, resp.Header.Get("Vary"))
	}
}

func TestClientGoDiscoversResourcesAndBothOpenAPIVersions(t *testing.T) {
	ts, _ := newServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			found[l.GroupVersion+" "+r.Name] = true
		}
	}
	for _, want := range []string{"v1 pods", "v1 pods/log", "apps/v1 deployments/scale", "batch/v1 jobs", "authorization.k8s.io/v1 selfsubjectaccessreviews"} {
		if !found[want] {
			t.Errorf("client-go did not discover %s", want)
		}
	}
	// /openapi/v2 as client-go reads it: protobuf only.
	doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPI v2 (protobuf): %v", err)
	}
	if doc.GetSwagger() != "2.0" || len(doc.GetDefinitions().GetAdditionalProperties()) == 0 {
		t.Fatalf("OpenAPI v2: swagger %q, %d definitions", doc.GetSwagger(), len(doc.GetDefinitions().GetAdditionalProperties()))
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	apps, ok := paths["apis/apps/v1"]
	if !ok {
		t.Fatalf("OpenAPI v3 index has no apis/apps/v1: %v", paths)
	}
	b, err := apps.Schema("application/json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"fieldValidation"`)) || !bytes.Contains(b, []byte(`"x-kubernetes-group-version-kind"`)) {
		t.Errorf("apis/apps/v1 lacks fieldValidation or the kinds' GVK")
	}
	if !bytes.Contains(b, []byte(`{"group":"autoscaling","kind":"Scale","version":"v1"}`)) {
		t.Errorf("apis/apps/v1 lacks the Scale its scale subresources carry")
	}
}

func TestOpenAPIv3ServesAHashedURLPerGroupVersionAndRefusesOthers(t *testing.T) {
	ts, _ := newServer(t)
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	_, b := get(t, ts.URL+"/openapi/v3", "")
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/authorization.k8s.io/v1"} {
		u := index.Paths[gv].ServerRelativeURL
		if !strings.HasPrefix(u, "/openapi/v3/"+gv+"?hash=") {
			t.Errorf("%s: serverRelativeURL %q", gv, u)
			continue
		}
		resp, _ := get(t, ts.URL+u, "application/json")
		if resp.Header.Get("Etag") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: headers %v", gv, resp.Header)
		}
	}
	resp, b := do(t, http.MethodGet, ts.URL+"/openapi/v3/apis/nothing/v9", "", "")
	if resp.StatusCode != http.StatusNotFound || status(t, b).Reason != api.ReasonNotFound {
		t.Errorf("unknown group version: %d %s", resp.StatusCode, b)
	}
	resp, _ = do(t, http.MethodGet, ts.URL+"/openapi/v2", "", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/openapi/v2 without Accept: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/openapi/v2", nil)
	req.Header.Set("Accept", "text/html")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotAcceptable {
		t.Errorf("/openapi/v2 as text/html: %d, want 406", r2.StatusCode)
	}
}
