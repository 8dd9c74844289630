package registry

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func testVolume(name, class, size string, modes ...string) *api.PersistentVolume {
	if len(modes) == 0 {
		modes = []string{api.ReadWriteOnce}
	}
	return &api.PersistentVolume{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.PersistentVolumeSpec{Capacity: api.ResourceList{api.ResourceStorage: api.MustParseQuantity(size)},
			AccessModes: modes, StorageClassName: class, HostPath: &api.HostPathVolumeSource{Path: "/srv/" + name}}}
}

func classClaim(name, class, size string) *api.PersistentVolumeClaim {
	c := testClaim(name)
	c.Spec.StorageClassName = &class
	c.Spec.Resources.Requests = api.ResourceList{api.ResourceStorage: api.MustParseQuantity(size)}
	return c
}

func volumeOf(t *testing.T, o *Registry, name string) *api.PersistentVolume {
	t.Helper()
	obj, err := o.Get(t.Context(), api.KindPersistentVolume, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.PersistentVolume)
}

func mustCreateIn(t *testing.T, o *Registry, objs ...api.Object) {
	t.Helper()
	for _, obj := range objs {
		if _, err := o.Create(t.Context(), obj); err != nil {
			t.Fatalf("create %s: %v", obj.GetObjectMeta().Name, err)
		}
	}
}

func wantBound(t *testing.T, o *Registry, claim, volume string) (*api.PersistentVolumeClaim, *api.PersistentVolume) {
	t.Helper()
	c, pv := claimOf(t, o, claim), volumeOf(t, o, volume)
	if c.Status.Phase != api.ClaimBound || c.Spec.VolumeName != volume || c.Annotations[api.AnnotationBindCompleted] != "yes" {
		t.Fatalf("claim %s: phase %q volumeName %q annotations %v; want Bound to %s", claim, c.Status.Phase, c.Spec.VolumeName, c.Annotations, volume)
	}
	if r := pv.Spec.ClaimRef; pv.Status.Phase != api.VolumeBound || r == nil || r.Name != claim || r.Namespace != "default" || r.UID != c.UID {
		t.Fatalf("volume %s: phase %q claimRef %+v; want Bound to default/%s (%s)", volume, pv.Status.Phase, r, claim, c.UID)
	}
	return c, pv
}

// A claim naming a declared volume binds to it, both sides written; a
// local volume's required node affinity places the claim on its node.
func TestClaimNamingAVolumeBindsToIt(t *testing.T) {
	o := newTestObjects(t, "")
	mustCreateIn(t, o, &api.Node{ObjectMeta: api.ObjectMeta{Name: "h1", Labels: map[string]string{api.LabelHostname: "h1"}}},
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "h2", Labels: map[string]string{api.LabelHostname: "h2"}}})
	local := testVolume("disk", "", "10Gi")
	local.Spec.HostPath = nil
	local.Spec.Local = &api.LocalVolumeSource{Path: "/mnt/disk"}
	local.Spec.NodeAffinity = &api.VolumeNodeAffinity{Required: &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{
		MatchExpressions: []api.NodeSelectorRequirement{{Key: api.LabelHostname, Operator: "In", Values: []string{"h2"}}}}}}}
	mustCreateIn(t, o, local, testVolume("other", "", "1Gi"))
	c := testClaim("data")
	c.Spec.VolumeName = "disk"
	mustCreateIn(t, o, c)
	got, pv := wantBound(t, o, "data", "disk")
	if got.SelectedNode() != "h2" {
		t.Fatalf("the claim of a local volume on h2: selected node %q", got.SelectedNode())
	}
	if _, chosen := got.Annotations[api.AnnotationBoundByController]; chosen {
		t.Fatal("a claim that named its volume is not bound-by-controller")
	}
	if pv.Annotations[api.AnnotationBoundByController] != "yes" {
		t.Fatalf("the volume had no claimRef: want bound-by-controller, got %v", pv.Annotations)
	}
	if pv := volumeOf(t, o, "other"); pv.Status.Phase != api.VolumeAvailable {
		t.Fatalf("the other volume: %q, want Available", pv.Status.Phase)
	}
	// Applying the claim's manifest again keeps the binding.
	again := testClaim("data")
	again.Spec.VolumeName = "disk"
	if _, err := o.Apply(t.Context(), []api.Object{again}); err != nil {
		t.Fatal(err)
	}
	wantBound(t, o, "data", "disk")
}

// A claim of a class served by declared volumes gets the smallest
// Available one that fits its class, access modes and size.
func TestClaimOfAClassBindsTheSmallestFittingVolume(t *testing.T) {
	o := newTestObjects(t, "")
	mustCreateIn(t, o,
		testVolume("big", "manual", "20Gi"),
		testVolume("fit", "manual", "5Gi"),
		testVolume("tiny", "manual", "1Gi"),
		testVolume("ro", "manual", "3Gi", api.ReadOnlyMany),
		testVolume("fast", "fast", "3Gi"))
	mustCreateIn(t, o, classClaim("data", "manual", "2Gi"))
	c, _ := wantBound(t, o, "data", "fit")
	if c.Annotations[api.AnnotationBoundByController] != "yes" {
		t.Fatalf("a claim the store chose for: annotations %v", c.Annotations)
	}
	// The next one of the same size takes the next smallest.
	mustCreateIn(t, o, classClaim("more", "manual", "2Gi"))
	wantBound(t, o, "more", "big")
	// A claim of no class, or a class nothing declares, is a local volume.
	mustCreateIn(t, o, testClaim("plain"), classClaim("standard", "standard", "1Gi"))
	for _, name := range []string{"plain", "standard"} {
		if c := claimOf(t, o, name); c.Spec.VolumeName != "" || c.Annotations[api.AnnotationWaitsForVolume] != "" {
			t.Fatalf("claim %s: volumeName %q annotations %v; want a local volume", name, c.Spec.VolumeName, c.Annotations)
		}
	}
}

// A claim no volume fits waits, Pending, saying why; its pods cannot be
// bound to a node; the volume's arrival binds it.
func TestClaimWaitsUntilAVolumeFits(t *testing.T) {
	o := newTestObjects(t, "")
	mustCreateIn(t, o, testVolume("tiny", "manual", "1Gi"))
	mustCreateIn(t, o, classClaim("data", "manual", "5Gi"))
	c := claimOf(t, o, "data")
	why := c.Annotations[api.AnnotationWaitsForVolume]
	if c.Status.Phase != api.ClaimPending || !strings.Contains(why, `class "manual"`) || !strings.Contains(why, "5Gi") {
		t.Fatalf("claim: phase %q, why %q; want Pending saying class and size", c.Status.Phase, why)
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"}, Spec: api.PodSpec{
		Containers: []api.Container{{Name: "app", Image: "img:v1"}},
		Volumes:    []api.Volume{{Name: "d", PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: "data"}}}}}
	mustCreateIn(t, o, pod)
	if _, err := o.Bind(t.Context(), "default", "db", &api.Binding{Target: api.ObjectReference{Kind: "Node", Name: "h1"}}); !api.IsConflict(err) ||
		!strings.Contains(err.Error(), "not bound yet") {
		t.Fatalf("binding a pod of a waiting claim: %v, want a conflict", err)
	}
	named := testClaim("named")
	named.Spec.VolumeName = "later"
	mustCreateIn(t, o, named)
	if why := claimOf(t, o, "named").Annotations[api.AnnotationWaitsForVolume]; !strings.Contains(why, `"later" does not exist`) {
		t.Fatalf("a claim naming a missing volume: %q", why)
	}
	mustCreateIn(t, o, testVolume("big", "manual", "8Gi"), testVolume("later", "", "1Gi"))
	wantBound(t, o, "data", "big")
	wantBound(t, o, "named", "later")
	// Bound, the pod can go to a node: the hostPath volume pins none.
	if _, err := o.Bind(t.Context(), "default", "db", &api.Binding{Target: api.ObjectReference{Kind: "Node", Name: "h1"}}); err != nil {
		t.Fatal(err)
	}
	if c := claimOf(t, o, "data"); c.SelectedNode() != "" {
		t.Fatalf("a hostPath volume with no node affinity pinned the claim to %q", c.SelectedNode())
	}
}

// The reclaim policy decides what a claim's deletion does to its volume:
// Retain keeps it Released (with its claimRef) until the claimRef is
// removed, which makes it Available again; Delete removes the object.
func TestReclaimPolicyOnClaimDelete(t *testing.T) {
	o := newTestObjects(t, "")
	keep := testVolume("keep", "manual", "1Gi")
	gone := testVolume("gone", "other", "1Gi")
	gone.Spec.PersistentVolumeReclaimPolicy = api.ReclaimDelete
	mustCreateIn(t, o, keep, gone, classClaim("a", "manual", "1Gi"), classClaim("b", "other", "1Gi"))
	wantBound(t, o, "a", "keep")
	wantBound(t, o, "b", "gone")
	for _, name := range []string{"a", "b"} {
		if _, err := o.Delete(t.Context(), api.KindClaim, "default", name, api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pv := volumeOf(t, o, "keep")
	if pv.Status.Phase != api.VolumeReleased || pv.Spec.ClaimRef == nil {
		t.Fatalf("Retain: phase %q claimRef %+v; want Released, claimRef kept", pv.Status.Phase, pv.Spec.ClaimRef)
	}
	if _, err := o.Get(t.Context(), api.KindPersistentVolume, "", "gone"); !api.IsNotFound(err) {
		t.Fatalf("Delete: %v, want the volume object gone", err)
	}
	// A new claim does not take a Released volume...
	mustCreateIn(t, o, classClaim("c", "manual", "1Gi"))
	if c := claimOf(t, o, "c"); c.Annotations[api.AnnotationWaitsForVolume] == "" {
		t.Fatalf("a claim took a Released volume: %+v", c)
	}
	// ...until an administrator removes the claimRef.
	pv.Spec.ClaimRef = nil
	if _, err := o.Update(t.Context(), pv); err != nil {
		t.Fatal(err)
	}
	wantBound(t, o, "c", "keep")
}

// A claim whose volume's node affinity names a node that has not joined
// waits; the node's registration binds it and places it there, and a node
// labelled to match does the same for another volume.
func TestClaimWaitingForItsVolumesNodeBindsWhenTheNodeJoins(t *testing.T) {
	o := newTestObjects(t, "")
	mustCreateIn(t, o, &api.Node{ObjectMeta: api.ObjectMeta{Name: "h1", Labels: map[string]string{api.LabelHostname: "h1"}}})
	pinned := func(name, key, value string) *api.PersistentVolume {
		pv := testVolume(name, "", "1Gi")
		pv.Spec.HostPath = nil
		pv.Spec.Local = &api.LocalVolumeSource{Path: "/mnt/" + name}
		pv.Spec.NodeAffinity = &api.VolumeNodeAffinity{Required: &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{
			MatchExpressions: []api.NodeSelectorRequirement{{Key: key, Operator: "In", Values: []string{value}}}}}}}
		return pv
	}
	mustCreateIn(t, o, pinned("disk", api.LabelHostname, "h2"), pinned("ssd", "disk", "ssd"))
	for _, v := range []string{"disk", "ssd"} {
		c := testClaim("data-" + v)
		c.Spec.VolumeName = v
		mustCreateIn(t, o, c)
		c = claimOf(t, o, "data-"+v)
		if why := c.Annotations[api.AnnotationWaitsForVolume]; c.Status.Phase != api.ClaimPending || !strings.Contains(why, "no node matches") {
			t.Fatalf("claim of %s before its node exists: phase %q, why %q; want Pending, no node matches", v, c.Status.Phase, why)
		}
	}

	mustCreateIn(t, o, &api.Node{ObjectMeta: api.ObjectMeta{Name: "h2", Labels: map[string]string{api.LabelHostname: "h2"}}})
	c, _ := wantBound(t, o, "data-disk", "disk")
	if c.SelectedNode() != "h2" || c.Annotations[api.AnnotationWaitsForVolume] != "" {
		t.Fatalf("after h2 joined: selected node %q, annotations %v; want h2 and no wait", c.SelectedNode(), c.Annotations)
	}
	if c := claimOf(t, o, "data-ssd"); c.Status.Phase != api.ClaimPending {
		t.Fatalf("the ssd claim bound with no ssd node: %q", c.Status.Phase)
	}

	// h1 labelled disk=ssd: the ssd volume's claim binds there.
	obj, err := o.Get(t.Context(), api.KindNode, "", "h1")
	if err != nil {
		t.Fatal(err)
	}
	n := obj.(*api.Node)
	n.Labels["disk"] = "ssd"
	if _, err := o.Update(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if c, _ := wantBound(t, o, "data-ssd", "ssd"); c.SelectedNode() != "h1" {
		t.Fatalf("after h1 was labelled: selected node %q, want h1", c.SelectedNode())
	}
}
