package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func newServer(t *testing.T) (*httptest.Server, *registry.Registry) {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	if _, err := objs.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(server.Config{Store: objs, Version: "v-test", MaxBodyBytes: 64 << 10}))
	t.Cleanup(ts.Close)
	return ts, objs
}

func do(t *testing.T, method, url, ctype, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func status(t *testing.T, b []byte) api.Status {
	t.Helper()
	var s api.Status
	if err := json.Unmarshal(b, &s); err != nil || s.Kind != "Status" {
		t.Fatalf("not a Status: %s", b)
	}
	return s
}

const deployYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: shoal-testapp:v1
`

func TestCreateGetListDeleteThroughHTTP(t *testing.T) {
	ts, _ := newServer(t)
	coll := ts.URL + "/apis/apps/v1/namespaces/default/deployments"
	resp, b := do(t, "POST", coll, "application/yaml", deployYAML)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", coll, "application/yaml", deployYAML)
	if resp.StatusCode != 409 || status(t, b).Reason != api.ReasonAlreadyExists {
		t.Fatalf("second create: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", coll+"/web", "", "")
	var d api.Deployment
	if resp.StatusCode != 200 || json.Unmarshal(b, &d) != nil || *d.Spec.Replicas != 2 || d.Kind != "Deployment" {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", ts.URL+"/apis/apps/v1/deployments?labelSelector=app%3Dweb", "", "")
	var list api.List[api.Deployment]
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list.Items) != 1 || list.Kind != "DeploymentList" {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", ts.URL+"/apis/apps/v1/deployments?labelSelector=app%3Dother", "", "")
	if json.Unmarshal(b, &list) != nil || len(list.Items) != 0 {
		t.Fatalf("list with a non-matching selector: %s", b)
	}
	resp, b = do(t, "DELETE", coll+"/web", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", coll+"/web", "", "")
	if resp.StatusCode != 404 || status(t, b).Reason != api.ReasonNotFound {
		t.Fatalf("get after delete: %d %s", resp.StatusCode, b)
	}
}

func TestBadInputIsA4xxStatusAndStoresNothing(t *testing.T) {
	ts, objs := newServer(t)
	cases := []struct {
		name, body string
		code       int
		mention    string
	}{
		{"malformed yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: [unclosed", 400, "YAML"},
		{"unknown kind", "apiVersion: v1\nkind: Gizmo\nmetadata: {name: x}\n", 400, "Gizmo"},
		{"invalid name", strings.Replace(deployYAML, "name: web", "name: Web_1", 1), 422, "metadata.name"},
		{"negative replicas", strings.Replace(deployYAML, "replicas: 2", "replicas: -3", 1), 422, "spec.replicas"},
		{"missing image", strings.Replace(deployYAML, "        image: shoal-testapp:v1\n", "", 1), 422, "spec.template.spec.containers[0].image"},
		{"too large", deployYAML + "# " + strings.Repeat("x", 300<<10) + "\n", 413, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := do(t, "POST", ts.URL+"/shoal/v1/apply", "application/yaml", c.body)
			if resp.StatusCode != c.code {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, c.code, b)
			}
			if s := status(t, b); !strings.Contains(s.Message, c.mention) {
				t.Fatalf("message %q does not mention %q", s.Message, c.mention)
			}
			list, _, _ := objs.List(context.Background(), api.KindDeployment, "", nil)
			if len(list) != 0 {
				t.Fatal("something was stored")
			}
		})
	}
	resp, _ := do(t, "GET", ts.URL+"/healthz", "", "")
	if resp.StatusCode != 200 {
		t.Fatal("server stopped serving after bad input")
	}
}

func TestApplyMultiDocumentAndWarnings(t *testing.T) {
	ts, _ := newServer(t)
	body := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\nbogus: 1\n---\n" + deployYAML
	resp, b := do(t, "POST", ts.URL+"/shoal/v1/apply", "application/yaml", body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var res server.ApplyResult
	json.Unmarshal(b, &res)
	if len(res.Items) != 2 || res.Items[0].Action != "created" || res.Items[1].Name != "web" {
		t.Fatalf("result %+v", res)
	}
	if w := resp.Header.Get("Warning"); !strings.Contains(w, "bogus") {
		t.Fatalf("no warning about the unknown field: %q", w)
	}
	resp, b = do(t, "POST", ts.URL+"/shoal/v1/apply?strict=true", "application/yaml", body)
	if resp.StatusCode != 400 || !strings.Contains(status(t, b).Message, "bogus") {
		t.Fatalf("strict: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", ts.URL+"/shoal/v1/apply", "application/yaml", body)
	json.Unmarshal(b, &res)
	if res.Items[0].Action != "unchanged" || res.Items[1].Action != "unchanged" {
		t.Fatalf("re-apply %+v", res)
	}
}

func TestScaleAndPatch(t *testing.T) {
	ts, _ := newServer(t)
	do(t, "POST", ts.URL+"/shoal/v1/apply", "application/yaml", deployYAML)
	obj := ts.URL + "/apis/apps/v1/namespaces/default/deployments/web"
	resp, b := do(t, "PATCH", obj+"/scale", "application/merge-patch+json", `{"spec":{"replicas":5}}`)
	var sc api.Scale
	if resp.StatusCode != 200 || json.Unmarshal(b, &sc) != nil || sc.Spec.Replicas != 5 {
		t.Fatalf("scale: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "PUT", obj+"/scale", "application/json", `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web"},"spec":{"replicas":-1}}`)
	if resp.StatusCode != 422 || !strings.Contains(status(t, b).Message, "spec.replicas") {
		t.Fatalf("negative scale: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "PATCH", obj, "application/merge-patch+json", `{"metadata":{"labels":{"tier":"web"}}}`)
	var d api.Deployment
	if resp.StatusCode != 200 || json.Unmarshal(b, &d) != nil || d.Labels["tier"] != "web" || *d.Spec.Replicas != 5 {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}
}

func TestWatchStreamsChanges(t *testing.T) {
	ts, objs := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/namespaces/default/configmaps?watch=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	objs.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c1", Namespace: "default"}})
	objs.Delete(ctx, api.KindConfigMap, "default", "c1", api.DeleteOptions{})
	sc := bufio.NewScanner(resp.Body)
	var types []string
	for len(types) < 2 && sc.Scan() {
		var ev struct {
			Type   string        `json:"type"`
			Object api.ConfigMap `json:"object"`
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		if ev.Object.Name != "c1" {
			t.Fatalf("event for %q", ev.Object.Name)
		}
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "ADDED,DELETED" {
		t.Fatalf("events %v", types)
	}
}

func TestAdmissionWarningsBecomeWarningHeaders(t *testing.T) {
	ts, objs := newServer(t)
	objs.AddAdmission(func(v *registry.TxnView, _, obj api.Object) error {
		if _, ok := obj.(*api.ConfigMap); ok {
			v.Warn(`configmaps "c" would violate something`)
		}
		return nil
	})
	for _, path := range []string{"/api/v1/namespaces/default/configmaps", "/shoal/v1/apply"} {
		name := strings.ReplaceAll(path, "/", "")[:6]
		resp, b := do(t, "POST", ts.URL+path, "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c`+name+`","namespace":"default"}}`)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if w := resp.Header.Values("Warning"); len(w) != 1 || w[0] != `299 - "configmaps \"c\" would violate something"` {
			t.Fatalf("%s: warnings %q", path, w)
		}
	}
}

func TestListAndDeleteCollectionHonourFieldSelectors(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := objs.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: n, Namespace: "default"}}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(query string) string {
		t.Helper()
		resp, b := do(t, "GET", ts.URL+"/api/v1/namespaces/default/configmaps?"+query, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, b)
		}
		var l struct{ Items []api.ConfigMap }
		json.Unmarshal(b, &l)
		var out []string
		for _, it := range l.Items {
			out = append(out, it.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names("fieldSelector=metadata.name%3Db"); got != "b" {
		t.Fatalf("metadata.name=b: %q", got)
	}
	if got := names("fieldSelector=metadata.name!%3Db,metadata.namespace%3Ddefault"); got != "a,c" {
		t.Fatalf("metadata.name!=b: %q", got)
	}
	resp, b := do(t, "GET", ts.URL+"/api/v1/namespaces/default/configmaps?fieldSelector=spec.nodeName%3Dh1", "", "")
	if st := status(t, b); resp.StatusCode != 400 || !strings.Contains(st.Message, "field label not supported: spec.nodeName") {
		t.Fatalf("unsupported field: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "DELETE", ts.URL+"/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Da", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("delete collection: %d %s", resp.StatusCode, b)
	}
	if got := names(""); got != "b,c" {
		t.Fatalf("after deleting metadata.name=a: %q", got)
	}
}

func TestCustomResourceDefinitionsAreAnEmptyList(t *testing.T) {
	ts, _ := newServer(t)
	resp, b := do(t, "GET", ts.URL+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "", "")
	var l struct {
		Kind  string
		Items []any
	}
	if err := json.Unmarshal(b, &l); err != nil || resp.StatusCode != 200 || l.Kind != "CustomResourceDefinitionList" || l.Items == nil || len(l.Items) != 0 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
