package registry

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// ApplyPrune deletes only the object the caller listed: one re-created
// meanwhile (another uid), or relabelled out of the selector, stays; and
// pods are never pruned.
func TestApplyPruneDeletesOnlyWhatWasListed(t *testing.T) {
	o := newTestObjects(t, "")
	ctx := context.Background()
	mk := func(name string) api.Object {
		obj, err := o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "shop"}}})
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}
	gone, recreated, relabelled := mk("gone"), mk("recreated"), mk("relabelled")
	if _, err := o.Delete(ctx, api.KindConfigMap, "default", "recreated", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mk("recreated")
	cur, _ := o.Get(ctx, api.KindConfigMap, "default", "relabelled")
	cur.GetObjectMeta().Labels = map[string]string{"app": "other"}
	if _, err := o.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	sel := api.SelectorFromSet(map[string]string{"app": "shop"})
	keep := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "keep", Namespace: "default"}}
	actions, pruned, err := o.ApplyPrune(ctx, []api.Object{keep}, []api.Object{gone, recreated, relabelled}, sel)
	if err != nil {
		t.Fatal(err)
	}
	if actions[0] != ActionCreated || pruned[0] != ActionPruned || pruned[1] != "" || pruned[2] != "" {
		t.Fatalf("actions %v pruned %q", actions, pruned)
	}
	for name, want := range map[string]bool{"gone": false, "recreated": true, "relabelled": true, "keep": true} {
		if _, err := o.Get(ctx, api.KindConfigMap, "default", name); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", name, err == nil, want)
		}
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"}}
	if _, _, err := o.ApplyPrune(ctx, nil, []api.Object{pod}, sel); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("pruning a pod: %v", err)
	}
}
