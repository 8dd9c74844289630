package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

type fixedMetrics struct {
	pods  []api.PodMetrics
	nodes []api.NodeMetrics
}

func (f fixedMetrics) PodMetrics(context.Context) ([]api.PodMetrics, error)   { return f.pods, nil }
func (f fixedMetrics) NodeMetrics(context.Context) ([]api.NodeMetrics, error) { return f.nodes, nil }

func usage(cpu, mem string) api.ResourceList {
	return api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(mem)}
}

func TestResourceMetricsAPI(t *testing.T) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	ctx := context.Background()
	for _, o := range []api.Object{&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}},
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}}} {
		if _, err := objs.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	web := readyPod(t, objs, "web", map[string]string{"app": "web"})
	readyPod(t, objs, "db", map[string]string{"app": "db"})
	pm := func(name, uid string) api.PodMetrics {
		return api.PodMetrics{TypeMeta: api.TypeMeta{Kind: "PodMetrics", APIVersion: api.MetricsGroupVersion},
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: uid}, Window: "10s",
			Containers: []api.ContainerMetrics{{Name: "app", Usage: usage("250m", "10Mi")}}}
	}
	src := fixedMetrics{
		pods: []api.PodMetrics{pm("web", web.UID), pm("db", ""), pm("gone", "x"), pm("web-old", "y")},
		nodes: []api.NodeMetrics{{ObjectMeta: api.ObjectMeta{Name: "n1"}, Usage: usage("1", "1Gi")},
			{ObjectMeta: api.ObjectMeta{Name: "left"}, Usage: usage("1", "1Gi")}},
	}
	ts := httptest.NewServer(server.New(server.Config{Store: objs, Metrics: src}))
	t.Cleanup(ts.Close)

	get := func(path string, code int, into any) {
		t.Helper()
		resp, b := do(t, "GET", ts.URL+path, "", "")
		if resp.StatusCode != code {
			t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, b, code)
		}
		if into != nil {
			if err := json.Unmarshal(b, into); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
	}
	var list api.PodMetricsList
	get("/apis/metrics.k8s.io/v1beta1/pods", 200, &list)
	if len(list.Items) != 2 || list.Kind != "PodMetricsList" {
		t.Fatalf("all pods: %+v; want web and db (pods not stored are left out)", list)
	}
	get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb", 200, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "web" || list.Items[0].Labels["app"] != "web" {
		t.Fatalf("selected pods: %+v; want web with its labels", list.Items)
	}
	var one api.PodMetrics
	get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db", 200, &one)
	if c := one.Containers[0].Usage[api.ResourceCPU]; c.MilliValue() != 250 {
		t.Fatalf("db cpu %s", c.String())
	}
	get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/gone", 404, nil)
	get("/apis/metrics.k8s.io/v1beta1/namespaces/other/pods", 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("another namespace: %+v", list.Items)
	}
	get("/apis/metrics.k8s.io/v1beta1/pods?watch=true", 405, nil)
	get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%3D%3D%3D", 400, nil)

	var nodes api.NodeMetricsList
	get("/apis/metrics.k8s.io/v1beta1/nodes", 200, &nodes)
	if len(nodes.Items) != 1 || nodes.Items[0].Name != "n1" || nodes.Items[0].Labels["zone"] != "a" {
		t.Fatalf("nodes: %+v; want n1 only (a node not stored is left out)", nodes.Items)
	}
	get("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db", 200, &nodes)
	if len(nodes.Items) != 0 {
		t.Fatalf("nodes of zone b: %+v", nodes.Items)
	}
	get("/apis/metrics.k8s.io/v1beta1/nodes/left", 404, nil)

	var rl metav1.APIResourceList
	get("/apis/metrics.k8s.io/v1beta1", 200, &rl)
	var names []string
	for _, r := range rl.APIResources {
		names = append(names, r.Name+":"+r.Kind+":"+strings.Join(r.Verbs, ","))
	}
	if got := strings.Join(names, " "); got != "pods:PodMetrics:get,list nodes:NodeMetrics:get,list" {
		t.Fatalf("discovery of metrics.k8s.io: %s", got)
	}

	// client-go finds the group (what kubectl top checks), and autoscaling
	// prefers v2 while serving v1 too; OpenAPI v3 has both.
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	groups, _, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	pref := map[string]string{}
	for _, g := range groups {
		pref[g.Name] = g.PreferredVersion.GroupVersion
	}
	if pref["metrics.k8s.io"] != "metrics.k8s.io/v1beta1" || pref["autoscaling"] != "autoscaling/v2" {
		t.Fatalf("preferred versions %v", pref)
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"apis/autoscaling/v2", "apis/autoscaling/v1", "apis/metrics.k8s.io/v1beta1"} {
		if _, ok := paths[gv]; !ok {
			t.Errorf("OpenAPI v3 lacks %s", gv)
		}
	}
}
