package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func newPod(ns, name string, labels map[string]string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "busybox"}}},
	}
}

func newDeployment(name string, replicas int32) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(replicas),
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: name, Image: "nginx:1.27"}}},
			},
		},
	}
}

func setup(t *testing.T, opts ...client.Option) (*clienttest.Server, *client.Client) {
	t.Helper()
	srv := clienttest.NewServer(t)
	c, err := client.New(srv.URL, srv.Token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func lastRequest(t *testing.T, srv *clienttest.Server) clienttest.Request {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("the server got no request")
	}
	return reqs[len(reqs)-1]
}

func TestNewParsesServerAddresses(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr bool
	}{
		{in: "http://127.0.0.1:7480"},
		{in: "https://agent.example:7480/"},
		{in: "127.0.0.1:7480"},
		{in: "unix:///run/shoal.sock"},
		{in: ""},
		{in: "unix://", wantErr: true},
		{in: "ftp://host", wantErr: true},
		{in: "http://", wantErr: true},
	} {
		_, err := client.New(tc.in, "")
		if (err != nil) != tc.wantErr {
			t.Errorf("New(%q): err = %v, want error %v", tc.in, err, tc.wantErr)
		}
	}
}

func TestCreateGetUpdatePatch(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	srv.Add(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team"}})

	obj, err := c.Create(ctx, api.KindPod, "", newPod("team", "web", nil))
	if err != nil {
		t.Fatal(err)
	}
	req := lastRequest(t, srv)
	if req.Method != "POST" || req.Path != "/api/v1/namespaces/team/pods" || req.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("create sent %s %s (%s)", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	var sent map[string]any
	if err := json.Unmarshal(req.Body, &sent); err != nil || sent["kind"] != "Pod" || sent["apiVersion"] != "v1" {
		t.Fatalf("create body lacks kind/apiVersion: %s", req.Body)
	}
	if obj.GetObjectMeta().UID == "" {
		t.Fatal("created object has no uid")
	}

	got, err := client.GetAs[api.Pod](ctx, c, "team", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != "Pod" || got.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("get returned %+v", got)
	}

	got.Labels = map[string]string{"tier": "front"}
	if _, err := c.Update(ctx, api.KindPod, "team", got); err != nil {
		t.Fatal(err)
	}
	if req := lastRequest(t, srv); req.Method != "PUT" || req.Path != "/api/v1/namespaces/team/pods/web" {
		t.Fatalf("update sent %s %s", req.Method, req.Path)
	}
	// A stale resourceVersion is a Conflict.
	if _, err := c.Update(ctx, api.KindPod, "team", got); !api.IsConflict(err) {
		t.Fatalf("stale update: err = %v, want Conflict", err)
	}

	patched, err := c.Patch(ctx, api.KindPod, "team", "web", []byte(`{"metadata":{"labels":{"tier":null,"x":"y"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if req := lastRequest(t, srv); req.Method != "PATCH" || req.Header.Get("Content-Type") != "application/merge-patch+json" {
		t.Fatalf("patch sent %s with %q", req.Method, req.Header.Get("Content-Type"))
	}
	if l := patched.GetObjectMeta().Labels; len(l) != 1 || l["x"] != "y" {
		t.Fatalf("patched labels = %v", l)
	}
}

func TestUpdateStatus(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	srv.Add(newPod("default", "web", nil))
	p := newPod("default", "web", nil)
	p.Status.Phase = api.PodRunning
	out, err := c.UpdateStatus(ctx, api.KindPod, "", p)
	if err != nil {
		t.Fatal(err)
	}
	if req := lastRequest(t, srv); req.Method != "PUT" || req.Path != "/api/v1/namespaces/default/pods/web/status" {
		t.Fatalf("update status sent %s %s", req.Method, req.Path)
	}
	if out.(*api.Pod).Status.Phase != api.PodRunning {
		t.Fatalf("status not stored: %+v", out.(*api.Pod).Status)
	}
}

func TestListWithSelector(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	srv.Add(newPod("default", "a", map[string]string{"app": "web"}),
		newPod("default", "b", map[string]string{"app": "db"}),
		newPod("other", "c", map[string]string{"app": "web"}))
	sel, err := api.ParseSelector("app=web")
	if err != nil {
		t.Fatal(err)
	}
	items, rv, err := c.List(ctx, api.KindPod, "", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].GetObjectMeta().Name != "a" || items[1].GetObjectMeta().Name != "c" {
		t.Fatalf("list = %v", names(items))
	}
	if rv == "" {
		t.Fatal("list returned no resourceVersion")
	}
	req := lastRequest(t, srv)
	if req.Path != "/api/v1/pods" || req.Query.Get("labelSelector") != "app=web" {
		t.Fatalf("list sent %s ?%v", req.Path, req.Query)
	}
	if items[0].GetTypeMeta().Kind != "Pod" {
		t.Fatal("list items have no kind")
	}

	typed, _, err := client.ListAs[api.Pod](ctx, c, "default", api.ListOptions{})
	if err != nil || len(typed) != 2 {
		t.Fatalf("ListAs = %d pods, %v", len(typed), err)
	}
}

func names(objs []api.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetObjectMeta().Name)
	}
	return out
}

func TestDeleteAndDeleteCollection(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	srv.PodTermination = time.Hour // the pods' node never finishes stopping them
	bound := func(p *api.Pod) *api.Pod { p.Spec.NodeName = "h1"; return p }
	a := bound(newPod("default", "a", map[string]string{"app": "web"}))
	srv.Add(a, bound(newPod("default", "b", map[string]string{"app": "web"})),
		newPod("default", "c", map[string]string{"app": "db"}))

	if _, err := c.Delete(ctx, api.KindPod, "default", "a", api.DeleteOptions{UID: "another-uid"}); !api.IsConflict(err) {
		t.Fatalf("delete with another uid as precondition: err = %v, want Conflict", err)
	}
	obj, err := c.Delete(ctx, api.KindPod, "default", "a", api.DeleteOptions{UID: a.UID})
	if err != nil {
		t.Fatal(err)
	}
	if obj.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatal("a lingering pod comes back with its deletionTimestamp")
	}
	var body struct {
		Preconditions struct{ UID string } `json:"preconditions"`
	}
	if err := json.Unmarshal(lastRequest(t, srv).Body, &body); err != nil || body.Preconditions.UID != a.UID {
		t.Fatalf("delete body = %s", lastRequest(t, srv).Body)
	}

	if _, err := c.Delete(ctx, api.KindPod, "default", "b", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	if req := lastRequest(t, srv); req.Query.Get("gracePeriodSeconds") != "0" || !strings.Contains(string(req.Body), `"gracePeriodSeconds":0`) {
		t.Fatalf("grace period not sent: ?%v %s", req.Query, req.Body)
	}
	if srv.Object(api.KindPod, "default", "b") != nil {
		t.Fatal("grace period 0 must remove the pod at once")
	}

	sel, _ := api.ParseSelector("app=db")
	deleted, err := c.DeleteCollection(ctx, api.KindPod, "default", sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0].GetObjectMeta().Name != "c" {
		t.Fatalf("deleted %v", names(deleted))
	}
	if req := lastRequest(t, srv); req.Method != "DELETE" || req.Path != "/api/v1/namespaces/default/pods" || req.Query.Get("labelSelector") != "app=db" {
		t.Fatalf("delete collection sent %s %s ?%v", req.Method, req.Path, req.Query)
	}
}

func TestErrorsBecomeStatusErrors(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	_, err := c.Get(ctx, api.KindDeployment, "default", "nope")
	var se *api.StatusError
	if !errors.As(err, &se) || !api.IsNotFound(err) || se.Code() != 404 {
		t.Fatalf("err = %#v, want a NotFound StatusError", err)
	}
	if se.Error() != `deployments "nope" not found` {
		t.Fatalf("message = %q", se.Error())
	}
	srv.Add(newPod("default", "a", nil))
	if _, err := c.Create(ctx, api.KindPod, "default", newPod("default", "a", nil)); !api.IsAlreadyExists(err) {
		t.Fatalf("err = %v, want AlreadyExists", err)
	}
	bad := newPod("default", "Bad_Name", nil)
	if _, err := c.Create(ctx, api.KindPod, "default", bad); !api.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	if _, err := c.Get(ctx, api.KindPod, "default", ""); err == nil {
		t.Fatal("an empty name must be refused")
	}
}

func TestNonStatusErrorBody(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	}))
	defer ts.Close()
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctxT(t), api.KindPod, "default", "x")
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code() != http.StatusBadGateway || se.ErrStatus.Reason != api.ReasonInternalError {
		t.Fatalf("err = %#v", err)
	}
	if se.Error() != "upstream exploded" {
		t.Fatalf("message = %q", se.Error())
	}
}

func TestConnectionErrorHasAddressAndHint(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	addr := ts.URL
	ts.Close()
	c, err := client.New(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Version(ctxT(t))
	var ce *client.ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %#v, want *client.ConnectionError", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "scripts/run") {
		t.Fatalf("message lacks address or hint: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Version(ctx)
	if !errors.Is(err, context.Canceled) || errors.As(err, &ce) {
		t.Fatalf("cancelled call: err = %v, want context.Canceled and no connection error", err)
	}
}

func TestWarningsReachTheHandler(t *testing.T) {
	var got []string
	srv, c := setup(t, client.WithWarningHandler(func(s string) { got = append(got, s) }))
	srv.SetWarnings(`unknown field "spec.foo"`, "second")
	if _, err := c.Version(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != `unknown field "spec.foo"` || got[1] != "second" {
		t.Fatalf("warnings = %q", got)
	}
}

func TestBearerToken(t *testing.T) {
	srv := clienttest.NewServer(t)
	anon, _ := client.New(srv.URL, "")
	if _, _, err := anon.List(ctxT(t), api.KindPod, "", api.ListOptions{}); api.ReasonOf(err) != api.ReasonUnauthorized {
		t.Fatalf("without a token: err = %v", err)
	}
	if h := lastRequest(t, srv).Header.Get("Authorization"); h != "" {
		t.Fatalf("a client without a token sent Authorization = %q", h)
	}
	other, _ := client.New(srv.URL, "admin.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	if _, _, err := other.List(ctxT(t), api.KindPod, "", api.ListOptions{}); api.ReasonOf(err) != api.ReasonUnauthorized {
		t.Fatalf("with a wrong token: err = %v", err)
	}
	c, _ := client.New(srv.URL, srv.Token)
	if _, _, err := c.List(ctxT(t), api.KindPod, "", api.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if h := lastRequest(t, srv).Header.Get("Authorization"); h != "Bearer "+srv.Token {
		t.Fatalf("Authorization = %q", h)
	}
}

func TestScale(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	srv.Add(newDeployment("web", 2))
	s, err := c.GetScale(ctx, api.KindDeployment, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Replicas != 2 {
		t.Fatalf("replicas = %d", s.Spec.Replicas)
	}
	out, err := c.UpdateScale(ctx, api.KindDeployment, "default", "web", &api.Scale{Spec: api.ScaleSpec{Replicas: 5}})
	if err != nil {
		t.Fatal(err)
	}
	req := lastRequest(t, srv)
	if req.Method != "PUT" || req.Path != "/apis/apps/v1/namespaces/default/deployments/web/scale" {
		t.Fatalf("update scale sent %s %s", req.Method, req.Path)
	}
	var sent api.Scale
	if err := json.Unmarshal(req.Body, &sent); err != nil || sent.Kind != "Scale" || sent.APIVersion != "autoscaling/v1" || sent.Name != "web" {
		t.Fatalf("scale body = %s", req.Body)
	}
	if out.Spec.Replicas != 5 || *srv.Object(api.KindDeployment, "default", "web").(*api.Deployment).Spec.Replicas != 5 {
		t.Fatal("scale not stored")
	}
	// Zero is a value like any other: it must be on the wire.
	if _, err := c.UpdateScale(ctx, api.KindDeployment, "default", "web", &api.Scale{}); err != nil {
		t.Fatal(err)
	}
	if body := string(lastRequest(t, srv).Body); !strings.Contains(body, `"spec":{"replicas":0}`) {
		t.Fatalf("scale to 0 sent %s", body)
	}
}

func TestLogs(t *testing.T) {
	srv, c := setup(t)
	ctx := ctxT(t)
	srv.Add(newPod("default", "web", nil))
	srv.SetLogs("default", "web", "app", "one\ntwo\nthree\n")
	since := api.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	rc, err := c.Logs(ctx, "default", "web", api.LogOptions{Container: "app", TailLines: api.Int64(2), Follow: true,
		Timestamps: true, Previous: true, SinceTime: &since})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	text, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != "two\nthree\n" {
		t.Fatalf("logs = %q", text)
	}
	q := lastRequest(t, srv).Query
	for k, want := range map[string]string{"container": "app", "tailLines": "2", "follow": "true", "timestamps": "true",
		"previous": "true", "sinceTime": "2025-01-02T03:04:05Z"} {
		if q.Get(k) != want {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if _, err := c.Logs(ctx, "default", "gone", api.LogOptions{}); !api.IsNotFound(err) {
		t.Fatalf("logs of a missing pod: %v", err)
	}
}

func TestApply(t *testing.T) {
	var warned []string
	srv, c := setup(t, client.WithWarningHandler(func(s string) { warned = append(warned, s) }))
	ctx := ctxT(t)
	doc := `apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  foo: bar
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`
	srv.Add(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team"}})
	res, err := c.Apply(ctx, "team", []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	req := lastRequest(t, srv)
	if req.Path != "/shoal/v1/apply" || req.Query.Get("namespace") != "team" || req.Query.Get("strict") != "false" ||
		req.Header.Get("Content-Type") != "application/yaml" || string(req.Body) != doc {
		t.Fatalf("apply sent %s ?%v %q", req.Path, req.Query, req.Header.Get("Content-Type"))
	}
	if len(res.Items) != 2 || res.Items[0].Action != client.ApplyCreated || res.Items[1].Kind != "Deployment" ||
		res.Items[1].Namespace != "team" {
		t.Fatalf("result = %+v", res.Items)
	}
	if len(res.Items[1].Warnings) != 1 || len(warned) != 1 || warned[0] != `Deployment web: unknown field "spec.foo"` {
		t.Fatalf("warnings: items %q, handler %q", res.Items[1].Warnings, warned)
	}
	res, err = c.Apply(ctx, "team", []byte(doc), false)
	if err != nil || res.Items[0].Action != client.ApplyUnchanged {
		t.Fatalf("second apply = %+v, %v", res, err)
	}
	_, err = c.Apply(ctx, "team", []byte(doc), true)
	if api.ReasonOf(err) != api.ReasonBadRequest || !strings.Contains(err.Error(), "spec.foo") {
		t.Fatalf("strict apply: err = %v, want BadRequest naming spec.foo (Kubernetes' strict decoding error)", err)
	}
}

func TestVersionAndHealthz(t *testing.T) {
	_, c := setup(t)
	v, err := c.Version(ctxT(t))
	if err != nil || v.GitVersion != clienttest.Version || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version = %+v, %v", v, err)
	}
	if err := c.Healthz(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestUnixSocket(t *testing.T) {
	fake := clienttest.NewServer(t)
	fake.Add(newPod("default", "web", nil))
	sock := filepath.Join(t.TempDir(), "shoal.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix sockets unavailable: %v", err)
	}
	hs := &http.Server{Handler: fake.Config.Handler}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })

	c, err := client.New("unix://"+sock, fake.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctxT(t), api.KindPod, "default", "web"); err != nil {
		t.Fatal(err)
	}
	fake.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) { return 4, nil }
	code, err := c.Exec(ctxT(t), "default", "web", api.ExecOptions{Command: []string{"false"}, Stdout: true}, nil, nil, nil, nil)
	if err != nil || code != 4 {
		t.Fatalf("exec over a unix socket: code %d, err %v", code, err)
	}
}
