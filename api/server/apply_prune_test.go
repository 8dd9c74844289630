package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func cm(name string, labels map[string]string) *api.ConfigMap {
	return &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: labels}, Data: map[string]string{"k": name}}
}

const pruneBody = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, labels: {app: shop}}\ndata: {k: v2}\n"

// An apply with prune replaces a set of objects in one step: the objects
// applied, and the others of the kinds given that match the selector
// deleted; objects outside the selector or the kinds stay.
func TestApplyPruneReplacesTheSelectedObjects(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	for _, o := range []api.Object{cm("keep", map[string]string{"app": "shop"}), cm("gone", map[string]string{"app": "shop"}),
		cm("other", map[string]string{"app": "blog"}),
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "s", Namespace: "default", Labels: map[string]string{"app": "shop"}}}} {
		if _, err := objs.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	resp, b := do(t, "POST", ts.URL+"/shoal/v1/apply?prune=app%3Dshop&pruneResource=configmaps", "application/yaml", pruneBody)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var res server.ApplyResult
	json.Unmarshal(b, &res)
	if len(res.Items) != 2 || res.Items[0].Action != "configured" || res.Items[1].Name != "gone" || res.Items[1].Action != "pruned" {
		t.Fatalf("result %+v", res.Items)
	}
	for name, want := range map[string]bool{"keep": true, "gone": false, "other": true} {
		_, err := objs.Get(ctx, api.KindConfigMap, "default", name)
		if got := err == nil; got != want {
			t.Errorf("configmap %s exists: %v, want %v", name, got, want)
		}
	}
	if _, err := objs.Get(ctx, api.KindSecret, "default", "s"); err != nil {
		t.Errorf("a secret was pruned though secrets were not named: %v", err)
	}

	for _, q := range []string{"prune=", "prune=app%3Dshop", "prune=app%3Dshop&pruneResource=pods", "prune=app%3Dshop&pruneResource=nodes",
		"pruneResource=configmaps", "prune=app%3Dshop&pruneResource=nonsense"} {
		resp, b := do(t, "POST", ts.URL+"/shoal/v1/apply?"+q, "application/yaml", pruneBody)
		if resp.StatusCode != 400 || !strings.Contains(status(t, b).Message, "prune") {
			t.Errorf("%s: %d %s", q, resp.StatusCode, b)
		}
	}
}

type oneUser struct{}

func (oneUser) Authenticate(*http.Request) (*api.UserInfo, error) {
	return &api.UserInfo{Username: "dev"}, nil
}

// noDelete allows everything but deleting.
type noDelete struct{}

func (noDelete) Authorize(_ context.Context, _ *api.UserInfo, req api.AccessRequest) (bool, string) {
	if a := req.ResourceAttributes; a != nil && a.Verb == api.VerbDelete {
		return false, "no delete"
	}
	return true, ""
}

func (noDelete) AdmitWrite(context.Context, *api.UserInfo, api.Object) error { return nil }

// A caller who may not delete an object apply would prune is refused, and
// nothing of the apply is stored.
func TestApplyPruneNeedsDelete(t *testing.T) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	ctx := context.Background()
	objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}})
	objs.Create(ctx, cm("keep", map[string]string{"app": "shop"}))
	objs.Create(ctx, cm("gone", map[string]string{"app": "shop"}))
	ts := httptest.NewServer(server.New(server.Config{Store: objs, Version: "v", MaxBodyBytes: 64 << 10,
		Authenticator: oneUser{}, Authorizer: noDelete{}}))
	t.Cleanup(ts.Close)
	resp, b := do(t, "POST", ts.URL+"/shoal/v1/apply?prune=app%3Dshop&pruneResource=configmaps", "application/yaml", pruneBody)
	if resp.StatusCode != 403 || !strings.Contains(status(t, b).Message, `cannot delete resource "configmaps"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	o, err := objs.Get(ctx, api.KindConfigMap, "default", "keep")
	if err != nil || o.(*api.ConfigMap).Data["k"] != "keep" {
		t.Errorf("a refused apply changed keep: %v %v", o, err)
	}
	if _, err := objs.Get(ctx, api.KindConfigMap, "default", "gone"); err != nil {
		t.Errorf("a refused apply pruned gone: %v", err)
	}
}
