package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestBindingSetsNodeNameOnce(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx"}}}}
	created, err := objs.Create(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	url := ts.URL + "/api/v1/namespaces/default/pods/web/binding"

	for _, bad := range []struct{ body, want string }{
		{`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":{"kind":"Node"}}`, "target.name"},
		{`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":{"kind":"Pod","name":"n1"}}`, "target.kind"},
		{`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"other"},"target":{"name":"n1"}}`, "metadata.name"},
		{`{"apiVersion":"v1","kind":"Binding","target":{"name":"N_1"}}`, "target.name"},
		{`{"apiVersion":"v1","kind":"Binding","metadata":{"namespace":"kube-system"},"target":{"name":"n1"}}`, "namespace"},
		{`{"apiVersion":"v1","kind":"Pod","target":{"name":"n1"}}`, "Binding"},
		{`{"apiVersion":"v1","kind":"Binding","metadata":{"uid":"not-the-uid"},"target":{"name":"n1"}}`, "UID"},
	} {
		resp, b := do(t, http.MethodPost, url, "application/json", bad.body)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(status(t, b).Message, bad.want) {
			t.Errorf("binding %s: %d %s; want a 4xx naming %s", bad.body, resp.StatusCode, b, bad.want)
		}
	}
	got, _ := objs.Get(ctx, api.KindPod, "default", "web")
	if n := got.(*api.Pod).Spec.NodeName; n != "" {
		t.Fatalf("a refused binding set spec.nodeName to %q", n)
	}

	body := `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web","uid":"` + created.GetObjectMeta().UID + `"},"target":{"apiVersion":"v1","kind":"Node","name":"n1"}}`
	resp, b := do(t, http.MethodPost, url, "application/json", body)
	if resp.StatusCode != http.StatusCreated || status(t, b).Status != "Success" {
		t.Fatalf("binding: %d %s; want 201 and a Success Status", resp.StatusCode, b)
	}
	got, _ = objs.Get(ctx, api.KindPod, "default", "web")
	p := got.(*api.Pod)
	if p.Spec.NodeName != "n1" || p.Spec.Containers[0].Image != "nginx" || p.Labels["app"] != "web" {
		t.Fatalf("after binding: nodeName %q, image %q, labels %v", p.Spec.NodeName, p.Spec.Containers[0].Image, p.Labels)
	}

	resp, b = do(t, http.MethodPost, url, "application/json", strings.Replace(body, `"n1"`, `"n2"`, 1))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(status(t, b).Message, `already assigned to node "n1"`) {
		t.Fatalf("second binding: %d %s; want 409 naming n1", resp.StatusCode, b)
	}
	resp, b = do(t, http.MethodPost, ts.URL+"/api/v1/namespaces/default/pods/nope/binding", "application/json", `{"target":{"name":"n1"}}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("binding a missing pod: %d %s; want 404", resp.StatusCode, b)
	}
}
