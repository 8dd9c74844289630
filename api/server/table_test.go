package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// kubectlAccept is the Accept header of kubectl get.
const kubectlAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// tableEpoch is when the table tests' objects are created; the server
// prints their cells five minutes later.
var tableEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTableServer is newServer with both clocks fixed, so ages are exact.
func newTableServer(t *testing.T) (*httptest.Server, *registry.Registry) {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	objs.SetClock(func() time.Time { return tableEpoch })
	if _, err := objs.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(server.Config{Store: objs, Version: "v-test", MaxBodyBytes: 64 << 10,
		Now: func() time.Time { return tableEpoch.Add(5 * time.Minute) }}))
	t.Cleanup(ts.Close)
	return ts, objs
}

// getTable GETs path with accept and decodes the meta.k8s.io Table.
func getTable(t *testing.T, url, accept string) (*metav1.Table, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tbl metav1.Table
	if resp.StatusCode != http.StatusOK {
		var s api.Status
		_ = json.NewDecoder(resp.Body).Decode(&s)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, s.Message)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tbl); err != nil {
		t.Fatalf("GET %s: not a Table: %v", url, err)
	}
	return &tbl, resp
}

// headers are a table's column names as kubectl prints them, the default
// ones or all of them (-o wide).
func headers(tbl *metav1.Table, wide bool) string {
	var h []string
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 || wide {
			h = append(h, strings.ToUpper(c.Name))
		}
	}
	return strings.Join(h, " | ")
}

// cliHeaders are the headers of shoal's CLI tables (cli/printers*_test.go
// checks them as printed), then the -o wide ones.
var cliHeaders = map[string][2]string{
	"Pod":                     {"NAME | READY | STATUS | RESTARTS | AGE", "IP | NODE"},
	"Deployment":              {"NAME | READY | UP-TO-DATE | AVAILABLE | AGE", "CONTAINERS | IMAGES | SELECTOR"},
	"ReplicaSet":              {"NAME | DESIRED | CURRENT | READY | AGE", "CONTAINERS | IMAGES | SELECTOR"},
	"ReplicationController":   {"NAME | DESIRED | CURRENT | READY | AGE", "CONTAINERS | IMAGES | SELECTOR"},
	"DaemonSet":               {"NAME | DESIRED | CURRENT | READY | UP-TO-DATE | AVAILABLE | NODE SELECTOR | AGE", "CONTAINERS | IMAGES | SELECTOR"},
	"Job":                     {"NAME | STATUS | COMPLETIONS | DURATION | AGE", "CONTAINERS | IMAGES | SELECTOR"},
	"Node":                    {"NAME | STATUS | ROLES | AGE | ADDRESS | PODS | CPU(REQ/ALLOC) | MEMORY(REQ/ALLOC)", "VERSION | OS-IMAGE | KERNEL-VERSION | CONTAINER-RUNTIME | BACKEND"},
	"Namespace":               {"NAME | STATUS | AGE", ""},
	"ConfigMap":               {"NAME | DATA | AGE", ""},
	"Secret":                  {"NAME | TYPE | DATA | AGE", ""},
	"PersistentVolumeClaim":   {"NAME | STATUS | NODE | CAPACITY | ACCESS MODES | STORAGECLASS | AGE", ""},
	"Event":                   {"LAST SEEN | TYPE | REASON | OBJECT | MESSAGE", ""},
	"Service":                 {"NAME | TYPE | CLUSTER-IP | EXTERNAL-IP | PORT(S) | AGE", "SELECTOR"},
	"Endpoints":               {"NAME | ENDPOINTS | AGE", ""},
	"Ingress":                 {"NAME | CLASS | HOSTS | ADDRESS | PORTS | AGE", ""},
	"CronJob":                 {"NAME | SCHEDULE | TIMEZONE | SUSPEND | ACTIVE | LAST SCHEDULE | AGE", "CONTAINERS | IMAGES | SELECTOR"},
	"ServiceAccount":          {"NAME | SECRETS | AGE", ""},
	"StatefulSet":             {"NAME | READY | AGE", "CONTAINERS | IMAGES"},
	"ControllerRevision":      {"NAME | CONTROLLER | REVISION | AGE", ""},
	"PodDisruptionBudget":     {"NAME | MIN AVAILABLE | MAX UNAVAILABLE | ALLOWED DISRUPTIONS | AGE", ""},
	"HorizontalPodAutoscaler": {"NAME | REFERENCE | TARGETS | MINPODS | MAXPODS | REPLICAS | AGE", ""},
	"StorageClass":            {"NAME | PROVISIONER | RECLAIMPOLICY | VOLUMEBINDINGMODE | ALLOWVOLUMEEXPANSION | AGE", ""},
	"PersistentVolume":        {"NAME | CAPACITY | ACCESS MODES | RECLAIM POLICY | STATUS | CLAIM | STORAGECLASS | REASON | AGE", "VOLUMEMODE"},
}

func TestTableColumnsOfEveryKind(t *testing.T) {
	ts, _ := newTableServer(t)
	for _, k := range api.Kinds {
		tbl, resp := getTable(t, ts.URL+k.CollectionPath(""), kubectlAccept)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json;as=Table;v=v1;g=meta.k8s.io" {
			t.Errorf("%s: Content-Type %q", k.Kind, ct)
		}
		if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" || tbl.ResourceVersion == "" {
			t.Errorf("%s: %s %s, resourceVersion %q", k.Kind, tbl.APIVersion, tbl.Kind, tbl.ResourceVersion)
		}
		want, ok := cliHeaders[k.Kind]
		if !ok {
			want = [2]string{"NAME | AGE", ""} // kinds without their own table
		}
		if got := headers(tbl, false); got != want[0] {
			t.Errorf("%s: columns %q, want %q", k.Kind, got, want[0])
		}
		wantWide := want[0]
		if want[1] != "" {
			wantWide += " | " + want[1]
		}
		if got := headers(tbl, true); got != wantWide {
			t.Errorf("%s: -o wide columns %q, want %q", k.Kind, got, wantWide)
		}
		for i, c := range tbl.ColumnDefinitions {
			if c.Type != "string" && c.Type != "integer" || c.Description == "" {
				t.Errorf("%s: column %s: type %q, description %q", k.Kind, c.Name, c.Type, c.Description)
			}
			if (c.Format == "name") != (c.Name == "Name" && i == 0) {
				t.Errorf("%s: column %d %s has format %q", k.Kind, i, c.Name, c.Format)
			}
		}
	}
}

// cellTexts are a row's cells as kubectl prints them.
func cellTexts(row metav1.TableRow) string {
	s := make([]string, len(row.Cells))
	for i, c := range row.Cells {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, " | ")
}

func TestTableRowsCarryTheCLIsCells(t *testing.T) {
	ts, objs := newTableServer(t)
	ctx := context.Background()
	mustCreate := func(o api.Object) {
		t.Helper()
		if _, err := objs.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(&api.Node{ObjectMeta: api.ObjectMeta{Name: "h1", Labels: map[string]string{"node-role.kubernetes.io/worker": ""}},
		Status: api.NodeStatus{
			Conditions:  []api.Condition{{Type: api.NodeReady, Status: api.ConditionTrue}},
			Addresses:   []api.NodeAddress{{Type: api.NodeInternalIP, Address: "10.213.0.11"}},
			Allocatable: map[string]api.Quantity{api.ResourceCPU: api.MustParseQuantity("2"), api.ResourceMemory: api.MustParseQuantity("4Gi"), api.ResourcePods: api.MustParseQuantity("110")},
			NodeInfo:    api.NodeInfo{KubeletVersion: "v1.2.3", OSImage: "Debian 12", KernelVersion: "6.1", ContainerRuntimeVersion: "docker://20.10.24"}}})
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{NodeName: "h1", Containers: []api.Container{{Name: "app", Image: "shoal-testapp:v1",
			Resources: api.ResourceRequirements{Requests: map[string]api.Quantity{api.ResourceCPU: api.MustParseQuantity("250m"), api.ResourceMemory: api.MustParseQuantity("64Mi")}}}}}}
	mustCreate(pod)
	replicas := int32(2)
	mustCreate(&api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "shoal-testapp:v1"}}}}}})
	mustCreate(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "conf", Namespace: "default"}, Data: map[string]string{"a": "1", "b": "2"}})
	mustCreate(&api.Role{ObjectMeta: api.ObjectMeta{Name: "reader", Namespace: "default"}})

	for _, tc := range []struct {
		path, want string
	}{
		{"/api/v1/namespaces/default/pods", "web-1 | 0/1 | Pending | 0 | 5m | <none> | h1"},
		{"/apis/apps/v1/namespaces/default/deployments", "web | 0/2 | 0 | 0 | 5m | app | shoal-testapp:v1 | app=web"},
		{"/api/v1/namespaces/default/configmaps", "conf | 2 | 5m"},
		{"/api/v1/nodes", "h1 | Ready | worker | 5m | 10.213.0.11 | 1/110 | 250m/2 | 64Mi/4Gi | v1.2.3 | Debian 12 | 6.1 | docker://20.10.24 | host-gw"},
		{"/api/v1/namespaces/default", "default | Active | 5m"},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", "reader | 5m"},
	} {
		tbl, _ := getTable(t, ts.URL+tc.path, kubectlAccept)
		if len(tbl.Rows) != 1 {
			t.Errorf("%s: %d rows", tc.path, len(tbl.Rows))
			continue
		}
		if got := cellTexts(tbl.Rows[0]); got != tc.want {
			t.Errorf("%s: cells %q, want %q", tc.path, got, tc.want)
		}
		// Integer columns carry JSON numbers, the others text.
		for i, c := range tbl.ColumnDefinitions {
			_, isNumber := tbl.Rows[0].Cells[i].(float64)
			if isNumber != (c.Type == "integer") {
				t.Errorf("%s: column %s of type %s holds %T", tc.path, c.Name, c.Type, tbl.Rows[0].Cells[i])
			}
		}
	}

	// A single object is a Table of one row with its resourceVersion.
	got, _ := objs.Get(ctx, api.KindPod, "default", "web-1")
	tbl, _ := getTable(t, ts.URL+"/api/v1/namespaces/default/pods/web-1", kubectlAccept)
	if len(tbl.Rows) != 1 || tbl.ResourceVersion != got.GetObjectMeta().ResourceVersion || len(tbl.ColumnDefinitions) != 7 {
		t.Errorf("get as a Table: %d rows, resourceVersion %q (object's %q)", len(tbl.Rows), tbl.ResourceVersion, got.GetObjectMeta().ResourceVersion)
	}
}

func TestTableIncludeObject(t *testing.T) {
	ts, objs := newTableServer(t)
	if _, err := objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "conf", Namespace: "default",
		Labels: map[string]string{"tier": "db"}}, Data: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"

	// Metadata by default: a PartialObjectMetadata, which kubectl reads
	// for -A (NAMESPACE) and --show-labels.
	tbl, _ := getTable(t, coll, kubectlAccept)
	var partial metav1.PartialObjectMetadata
	if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &partial); err != nil {
		t.Fatal(err)
	}
	if partial.Kind != "PartialObjectMetadata" || partial.APIVersion != "meta.k8s.io/v1" || partial.Name != "conf" ||
		partial.Namespace != "default" || partial.Labels["tier"] != "db" || partial.ResourceVersion == "" {
		t.Errorf("includeObject=Metadata: %s", tbl.Rows[0].Object.Raw)
	}

	// Object: the whole object, which kubectl decodes as it does for
	// --sort-by.
	tbl, _ = getTable(t, coll+"?includeObject=Object", kubectlAccept)
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, tbl.Rows[0].Object.Raw)
	if err != nil {
		t.Fatalf("includeObject=Object: %v: %s", err, tbl.Rows[0].Object.Raw)
	}
	u := obj.(*unstructured.Unstructured)
	if u.GetKind() != "ConfigMap" || u.GetAPIVersion() != "v1" || u.GetName() != "conf" {
		t.Errorf("includeObject=Object: %s", tbl.Rows[0].Object.Raw)
	}
	if data, _, _ := unstructured.NestedStringMap(u.Object, "data"); data["a"] != "1" {
		t.Errorf("includeObject=Object lacks the data: %s", tbl.Rows[0].Object.Raw)
	}

	tbl, _ = getTable(t, coll+"?includeObject=None", kubectlAccept)
	if tbl.Rows[0].Object.Raw != nil {
		t.Errorf("includeObject=None: %s", tbl.Rows[0].Object.Raw)
	}

	req, _ := http.NewRequest(http.MethodGet, coll+"?includeObject=Everything", nil)
	req.Header.Set("Accept", kubectlAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var s api.Status
	_ = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(s.Message, "includeObject") {
		t.Errorf("includeObject=Everything: %d %q", resp.StatusCode, s.Message)
	}
}

func TestTableNegotiationOverHTTP(t *testing.T) {
	ts, _ := newTableServer(t)
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"

	tbl, resp := getTable(t, coll, "application/json;as=Table;v=v1beta1;g=meta.k8s.io")
	if tbl.APIVersion != "meta.k8s.io/v1beta1" || resp.Header.Get("Content-Type") != "application/json;as=Table;v=v1beta1;g=meta.k8s.io" {
		t.Errorf("v1beta1: %s, Content-Type %q", tbl.APIVersion, resp.Header.Get("Content-Type"))
	}
	// Objects when the client asks for them, or for nothing shoal has.
	for _, accept := range []string{"application/json", "", "application/json;as=Foo;v=v1;g=meta.k8s.io",
		"application/json;as=Table;v=v9;g=meta.k8s.io,application/json"} {
		resp, b := doAccept(t, coll, accept)
		var list api.List[api.ConfigMap]
		if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || list.Kind != "ConfigMapList" ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Accept %q: %d %s %s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}

func doAccept(t *testing.T, url, accept string) (*http.Response, []byte) {
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
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, []byte(b.String())
}

func TestTableWatch(t *testing.T) {
	ts, objs := newTableServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/namespaces/default/configmaps?watch=true", nil)
	req.Header.Set("Accept", kubectlAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json;as=Table;v=v1;g=meta.k8s.io" {
		t.Errorf("Content-Type %q", ct)
	}
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c1", Namespace: "default"}, Data: map[string]string{"a": "1"}}
	if _, err := objs.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	cur, _ := objs.Get(ctx, api.KindConfigMap, "default", "c1")
	cur.(*api.ConfigMap).Data["b"] = "2"
	if _, err := objs.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := objs.Delete(ctx, api.KindConfigMap, "default", "c1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for len(got) < 3 && sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var ev metav1.WatchEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		var tbl metav1.Table
		if err := json.Unmarshal(ev.Object.Raw, &tbl); err != nil || tbl.Kind != "Table" || len(tbl.Rows) != 1 {
			t.Fatalf("%s event is not a Table of one row: %s", ev.Type, ev.Object.Raw)
		}
		// The column definitions come with the first event only.
		if first := len(got) == 0; first != (len(tbl.ColumnDefinitions) > 0) {
			t.Errorf("%s event: %d column definitions", ev.Type, len(tbl.ColumnDefinitions))
		}
		var partial metav1.PartialObjectMetadata
		if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &partial); err != nil || partial.Name != "c1" || tbl.ResourceVersion != partial.ResourceVersion {
			t.Errorf("%s event's row object: %s (table resourceVersion %q)", ev.Type, tbl.Rows[0].Object.Raw, tbl.ResourceVersion)
		}
		got = append(got, ev.Type+" "+cellTexts(tbl.Rows[0]))
	}
	want := "ADDED c1 | 1 | 5m, MODIFIED c1 | 2 | 5m, DELETED c1 | 2 | 5m"
	if strings.Join(got, ", ") != want {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, ", "), want)
	}
}

// BenchmarkListPods lists 1,000 pods as objects (shoal get) and as a Table
// (kubectl get), side by side.
func BenchmarkListPods(b *testing.B) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	objs := registry.New(st)
	ctx := context.Background()
	if _, err := objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := objs.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default",
			Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "shoal-testapp:v1"}}}}); err != nil {
			b.Fatal(err)
		}
	}
	ts := httptest.NewServer(server.New(server.Config{Store: objs, Version: "v-test", MaxBodyBytes: 64 << 10}))
	defer ts.Close()
	for _, bc := range []struct{ name, accept string }{
		{"objects", "application/json"},
		{"table", kubectlAccept},
		{"table-with-objects", kubectlAccept},
		{"kubectl-pages", kubectlAccept},
	} {
		url := ts.URL + "/api/v1/pods"
		switch bc.name {
		case "table-with-objects":
			url += "?includeObject=Object"
		case "kubectl-pages":
			url += "?limit=500" // as kubectl get asks (--chunk-size), every page
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				next := url
				for next != "" {
					req, _ := http.NewRequest(http.MethodGet, next, nil)
					req.Header.Set("Accept", bc.accept)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(bufio.NewReader(resp.Body))
					resp.Body.Close()
					b.SetBytes(int64(len(body)))
					next = ""
					var page struct {
						Metadata api.ListMeta `json:"metadata"`
					}
					if bc.name == "kubectl-pages" && json.Unmarshal(body, &page) == nil && page.Metadata.Continue != "" {
						next = ts.URL + "/api/v1/pods?limit=500&continue=" + page.Metadata.Continue
					}
				}
			}
		})
	}
}
