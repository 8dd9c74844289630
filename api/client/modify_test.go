package client_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestModifyRetriesOnConflict(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newDeployment("web", 1))
	calls := 0
	out, written, err := c.Modify(ctxT(t), api.KindDeployment, "default", "web", func(o api.Object) (bool, error) {
		calls++
		if calls == 1 {
			// Another writer gets in between our read and our write.
			srv.Update(api.KindDeployment, "default", "web", func(o api.Object) {
				o.GetObjectMeta().Labels["by"] = "other"
			})
		}
		o.(*api.Deployment).Spec.Paused = true
		return true, nil
	})
	if err != nil || !written {
		t.Fatalf("written %v, err %v", written, err)
	}
	if calls != 2 {
		t.Fatalf("mutate ran %d times, want 2 (once more after the conflict)", calls)
	}
	d := out.(*api.Deployment)
	if !d.Spec.Paused || d.Labels["by"] != "other" {
		t.Fatalf("the other writer's change or ours is lost: paused %v labels %v", d.Spec.Paused, d.Labels)
	}
	var puts []string
	for _, r := range srv.Requests() {
		if r.Method == "PUT" {
			puts = append(puts, r.Path)
		}
	}
	if len(puts) != 2 {
		t.Fatalf("%d PUTs, want 2", len(puts))
	}
}

func TestModifyUnchangedAndErrors(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newDeployment("web", 1))
	_, written, err := c.Modify(ctxT(t), api.KindDeployment, "default", "web", func(api.Object) (bool, error) { return false, nil })
	if err != nil || written {
		t.Fatalf("unchanged: written %v err %v", written, err)
	}
	for _, r := range srv.Requests() {
		if r.Method != "GET" {
			t.Fatalf("an unchanged object must not be written: %s %s", r.Method, r.Path)
		}
	}
	boom := errors.New("boom")
	if _, _, err := c.Modify(ctxT(t), api.KindDeployment, "default", "web", func(api.Object) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Fatalf("mutate's error: %v", err)
	}
	if _, _, err := c.Modify(ctxT(t), api.KindDeployment, "default", "nope", func(api.Object) (bool, error) { return true, nil }); !api.IsNotFound(err) {
		t.Fatalf("missing object: %v", err)
	}
	// Someone changes the object every time: Modify gives up with the Conflict.
	writes := 0
	_, _, err = c.Modify(ctxT(t), api.KindDeployment, "default", "web", func(o api.Object) (bool, error) {
		writes++
		srv.Update(api.KindDeployment, "default", "web", func(o api.Object) {
			o.GetObjectMeta().Labels["other"] = strconv.Itoa(writes)
		})
		return true, nil
	})
	if !api.IsConflict(err) {
		t.Fatalf("endless conflicts: %v", err)
	}
}

func TestGenerationFollowsSpecChanges(t *testing.T) {
	srv, c := setup(t)
	obj, err := c.Create(ctxT(t), api.KindDeployment, "default", newDeployment("web", 1))
	if err != nil {
		t.Fatal(err)
	}
	if g := obj.GetObjectMeta().Generation; g != 1 {
		t.Fatalf("generation at creation %d, want 1", g)
	}
	obj.GetObjectMeta().Labels["x"] = "y"
	if obj, err = c.Update(ctxT(t), api.KindDeployment, "default", obj); err != nil || obj.GetObjectMeta().Generation != 1 {
		t.Fatalf("a metadata change keeps the generation: %v %d", err, obj.GetObjectMeta().Generation)
	}
	obj.(*api.Deployment).Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	if obj, err = c.Update(ctxT(t), api.KindDeployment, "default", obj); err != nil || obj.GetObjectMeta().Generation != 2 {
		t.Fatalf("a spec change bumps the generation: %v %d", err, obj.GetObjectMeta().Generation)
	}
	if obj, err = c.Patch(ctxT(t), api.KindDeployment, "default", "web", []byte(`{"spec":{"paused":true}}`)); err != nil || obj.GetObjectMeta().Generation != 3 {
		t.Fatalf("a patched spec bumps the generation: %v %d", err, obj.GetObjectMeta().Generation)
	}
	if g := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().Generation; g != 3 {
		t.Fatalf("stored generation %d", g)
	}
}
