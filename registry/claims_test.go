package registry

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func testClaim(name string) *api.PersistentVolumeClaim {
	return &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "db"}},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{api.ReadWriteOnce}}}
}

func claimOf(t *testing.T, o *Registry, name string) *api.PersistentVolumeClaim {
	t.Helper()
	obj, err := o.Get(t.Context(), api.KindClaim, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.PersistentVolumeClaim)
}

// Applying a claim's manifest again (as every compose up does) keeps the
// node it is bound to: the manifest does not name one, and the data is
// there. Naming another node moves the binding, and the phase follows the
// annotation whichever write sets it.
func TestApplyingAClaimAgainKeepsItsNode(t *testing.T) {
	o := newTestObjects(t, "")
	if _, err := o.Apply(t.Context(), []api.Object{testClaim("data")}); err != nil {
		t.Fatal(err)
	}
	if c := claimOf(t, o, "data"); c.Status.Phase != api.ClaimPending {
		t.Fatalf("new claim: phase %q", c.Status.Phase)
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"}, Spec: api.PodSpec{
		Containers: []api.Container{{Name: "app", Image: "img:v1"}},
		Volumes:    []api.Volume{{Name: "d", PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: "data"}}}}}
	if _, err := o.Create(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Bind(t.Context(), "default", "db", &api.Binding{Target: api.ObjectReference{Kind: "Node", Name: "h2"}}); err != nil {
		t.Fatal(err)
	}
	again := testClaim("data")
	again.Labels["tier"] = "storage"
	actions, err := o.Apply(t.Context(), []api.Object{again})
	if err != nil || actions[0] != ActionConfigured {
		t.Fatalf("apply again: %v %v", actions, err)
	}
	c := claimOf(t, o, "data")
	if c.SelectedNode() != "h2" || c.Status.Phase != api.ClaimBound || c.Labels["tier"] != "storage" {
		t.Fatalf("after applying again: node %q phase %q labels %v; want h2, Bound and the new label", c.SelectedNode(), c.Status.Phase, c.Labels)
	}
	// An edit naming another node moves the binding.
	c.Annotations[api.AnnotationSelectedNode] = "h3"
	if _, err := o.Update(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if c := claimOf(t, o, "data"); c.SelectedNode() != "h3" || c.Status.Phase != api.ClaimBound {
		t.Fatalf("after the move: node %q phase %q", c.SelectedNode(), c.Status.Phase)
	}
	// Deleting the claim ends the binding: a claim made again, once its
	// pod is gone too, is Pending.
	if _, err := o.Delete(t.Context(), api.KindClaim, "default", "data", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(t.Context(), api.KindPod, "default", "db", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Create(t.Context(), testClaim("data")); err != nil {
		t.Fatal(err)
	}
	if c := claimOf(t, o, "data"); c.SelectedNode() != "" || c.Status.Phase != api.ClaimPending {
		t.Fatalf("re-created claim: node %q phase %q", c.SelectedNode(), c.Status.Phase)
	}
}

// A DaemonSet runs a pod on every node, and a claim with an object keeps
// its pods on one: the two are refused together, in either order, naming
// the field.
func TestDaemonSetAndClaimObjectAreRefusedTogether(t *testing.T) {
	o := newTestObjects(t, "")
	ds := func(name, claim string) *api.DaemonSet {
		labels := map[string]string{"app": name}
		return &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels}, Spec: api.PodSpec{
				Containers: []api.Container{{Name: "app", Image: "img:v1"}},
				Volumes:    []api.Volume{{Name: "d", PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: claim}}}}}}}
	}
	if _, err := o.Create(t.Context(), testClaim("data")); err != nil {
		t.Fatal(err)
	}
	_, err := o.Create(t.Context(), ds("agent", "data"))
	if !api.IsInvalid(err) || !strings.Contains(err.Error(), "spec.template.spec.volumes[0].persistentVolumeClaim.claimName") {
		t.Fatalf("a DaemonSet using a claim with an object: %v; want a 422 naming the claim's field", err)
	}
	if _, err := o.Create(t.Context(), ds("agent", "buffer")); err != nil {
		t.Fatalf("a DaemonSet using a claim without an object: %v", err)
	}
	_, err = o.Create(t.Context(), testClaim("buffer"))
	if !api.IsInvalid(err) || !strings.Contains(err.Error(), "DaemonSet agent uses the claim buffer") {
		t.Fatalf("a claim object for a DaemonSet's claim: %v; want a 422 naming the DaemonSet", err)
	}
}

// A claim object made for a claim that bound pods already use on one node
// (pods from before the claim had an object) is bound to that node at
// once; pods of the claim on two nodes leave it Pending.
func TestANewClaimTakesTheNodeOfItsRunningPods(t *testing.T) {
	o := newTestObjects(t, "")
	pod := func(name, node, claim string) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.PodSpec{NodeName: node,
			Containers: []api.Container{{Name: "app", Image: "img:v1"}},
			Volumes:    []api.Volume{{Name: "d", PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: claim}}}}}
	}
	for _, p := range []*api.Pod{pod("db", "h2", "data"), pod("pending", "", "data"), pod("a", "h1", "split"), pod("b", "h3", "split")} {
		if _, err := o.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"data", "split"} {
		if _, err := o.Create(t.Context(), testClaim(name)); err != nil {
			t.Fatal(err)
		}
	}
	if c := claimOf(t, o, "data"); c.SelectedNode() != "h2" || c.Status.Phase != api.ClaimBound {
		t.Fatalf("claim of a pod running on h2: node %q phase %q", c.SelectedNode(), c.Status.Phase)
	}
	if c := claimOf(t, o, "split"); c.SelectedNode() != "" || c.Status.Phase != api.ClaimPending {
		t.Fatalf("claim of pods on h1 and h3: node %q phase %q; want unbound", c.SelectedNode(), c.Status.Phase)
	}
}
