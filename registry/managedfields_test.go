package registry

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func entry(manager, op, fields string) api.ManagedFieldsEntry {
	return api.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "apps/v1", FieldsType: "FieldsV1",
		FieldsV1: &api.FieldsV1{Raw: []byte(fields)}}
}

func managerNames(d *api.Deployment) []string {
	var out []string
	for _, e := range d.ManagedFields {
		out = append(out, e.Manager)
	}
	return out
}

// managedFields travel with the object's spec record: replicated as they
// are, and of two edits made apart, the list of the newer write stands
// whole on every agent (it is one register of the field-level merge),
// beside both edits.
func TestManagedFieldsReplicateAndMergeWhole(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	d := testDeployment("web", 2)
	d.ManagedFields = []api.ManagedFieldsEntry{entry("alice", "Apply", `{"f:spec":{"f:replicas":{}}}`)}
	if _, err := rs[0].o.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	if got := managerNames(getDeployment(t, rs[1], "web")); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("replicated managedFields: %v", got)
	}
	edit(t, rs[0], "web", func(d *api.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "img:v2"
		d.ManagedFields = append(d.ManagedFields, entry("bob", "Update", `{"f:spec":{"f:template":{}}}`))
	})
	edit(t, rs[1], "web", func(d *api.Deployment) {
		d.Spec.Replicas = api.Int32(5)
		d.ManagedFields = append(d.ManagedFields, entry("carol", "Update", `{"f:spec":{"f:replicas":{}}}`))
	})
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	got := getDeployment(t, rs[0], "web")
	if got.Spec.Template.Spec.Containers[0].Image != "img:v2" || *got.Spec.Replicas != 5 {
		t.Fatalf("image %s replicas %d: want both edits", got.Spec.Template.Spec.Containers[0].Image, *got.Spec.Replicas)
	}
	names := managerNames(got)
	if len(names) != 2 || names[0] != "alice" || (names[1] != "bob" && names[1] != "carol") {
		t.Fatalf("merged managedFields %v: want one side's list whole", names)
	}
}

// Malformed managedFields are refused on a write (and so in a received
// record, which is validated as a write).
func TestManagedFieldsAreValidated(t *testing.T) {
	rs := newReplicas(t, 1)
	d := testDeployment("web", 1)
	d.ManagedFields = []api.ManagedFieldsEntry{{Manager: "x", Operation: "Steal"}}
	if _, err := rs[0].o.Create(context.Background(), d); err == nil || !api.IsInvalid(err) {
		t.Fatalf("operation Steal: want Invalid, got %v", err)
	}
}
