package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/shoal-dev/shoal/api"
)

// webApply is an apply configuration of the Deployment web: only the
// fields given are the manager's.
func webApply(replicas int32, labels map[string]string) *appsv1ac.DeploymentApplyConfiguration {
	return appsv1ac.Deployment("web", "default").
		WithLabels(labels).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(map[string]string{"app": "web"}).
				WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("app").WithImage("web:1")))))
}

func managersOf(d *appsv1.Deployment) map[string]metav1.ManagedFieldsEntry {
	out := map[string]metav1.ManagedFieldsEntry{}
	for _, e := range d.ManagedFields {
		out[e.Manager+"/"+string(e.Operation)+"/"+e.Subresource] = e
	}
	return out
}

func TestServerSideApplyWithClientGo(t *testing.T) {
	ts, _ := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")

	// An apply of an absent object creates it.
	d, err := deps.Apply(ctx, webApply(2, map[string]string{"app": "web", "tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if *d.Spec.Replicas != 2 || d.Labels["tier"] != "front" {
		t.Fatalf("created %+v", d)
	}
	if _, ok := managersOf(d)["alice/Apply/"]; !ok || len(d.ManagedFields) != 1 {
		t.Fatalf("managedFields %v: want alice's Apply entry only", managersOf(d))
	}

	// The same apply again changes nothing.
	again, err := deps.Apply(ctx, webApply(2, map[string]string{"app": "web", "tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil || again.ResourceVersion != d.ResourceVersion {
		t.Fatalf("second apply: %v, resourceVersion %s then %s", err, d.ResourceVersion, again.ResourceVersion)
	}

	// Another manager's different replicas: a conflict naming the field and alice.
	_, err = deps.Apply(ctx, webApply(5, nil), metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) {
		t.Fatalf("bob's apply: want a conflict, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `conflict with "alice"`) || !strings.Contains(msg, ".spec.replicas") {
		t.Fatalf("conflict message %q does not name .spec.replicas and alice", msg)
	}
	var se *apierrors.StatusError
	if !asStatusError(err, &se) || se.ErrStatus.Details == nil || len(se.ErrStatus.Details.Causes) == 0 ||
		se.ErrStatus.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict {
		t.Fatalf("conflict status %+v: want FieldManagerConflict causes", se)
	}
	// Forced, bob takes replicas over.
	d, err = deps.Apply(ctx, webApply(5, nil), metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil || *d.Spec.Replicas != 5 {
		t.Fatalf("forced apply: %v", err)
	}
	if _, ok := managersOf(d)["bob/Apply/"]; !ok {
		t.Fatalf("managedFields %v: want bob's Apply entry", managersOf(d))
	}

	// alice stops applying the label tier (and replicas, now bob's): it goes.
	d, err = deps.Apply(ctx, appsv1ac.Deployment("web", "default").WithLabels(map[string]string{"app": "web"}).
		WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": "web"}).
				WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("app").WithImage("web:1"))))),
		metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Labels["tier"]; ok || *d.Spec.Replicas != 5 {
		t.Fatalf("labels %v replicas %d: want tier removed, bob's replicas kept", d.Labels, *d.Spec.Replicas)
	}

	// An update and a patch are recorded as Update entries: under the
	// fieldManager given, or the client's User-Agent product.
	d.Spec.Template.Spec.Containers[0].Image = "web:2"
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{FieldManager: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := managersOf(d)["carol/Update/"]; !ok {
		t.Fatalf("managedFields %v: want carol's Update entry", managersOf(d))
	}
	d, err = deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"annotations":{"note":"x"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := managersOf(d)["server.test/Update/"]; !ok {
		t.Fatalf("managedFields %v: want an Update entry named after the User-Agent (server.test)", managersOf(d))
	}
	// alice now conflicts on the image carol set.
	if _, err := deps.Apply(ctx, webApply(5, nil), metav1.ApplyOptions{FieldManager: "alice"}); !apierrors.IsConflict(err) ||
		!strings.Contains(err.Error(), `"carol"`) {
		t.Fatalf("alice's apply over carol's image: %v", err)
	}

	// The status subresource: its own entries, and only its fields.
	st := appsv1ac.Deployment("web", "default").WithStatus(appsv1ac.DeploymentStatus().WithObservedGeneration(7).
		WithConditions(appsv1ac.DeploymentCondition().WithType(appsv1.DeploymentAvailable).WithStatus("True")))
	d, err = deps.ApplyStatus(ctx, st, metav1.ApplyOptions{FieldManager: "ctrl"})
	if err != nil {
		t.Fatalf("status apply: %v", err)
	}
	if len(d.Status.Conditions) != 1 || d.Status.ObservedGeneration != 7 {
		t.Fatalf("status %+v", d.Status)
	}
	e, ok := managersOf(d)["ctrl/Apply/status"]
	if !ok || !strings.Contains(string(e.FieldsV1.Raw), "f:status") || strings.Contains(string(e.FieldsV1.Raw), "f:spec") {
		t.Fatalf("managedFields %v: want ctrl's Apply entry on status, of status fields", managersOf(d))
	}
	got, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || len(got.ManagedFields) != len(d.ManagedFields) {
		t.Fatalf("stored managedFields %v, answered %v (%v)", managersOf(got), managersOf(d), err)
	}
}

func asStatusError(err error, se **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*se = s
	return ok
}

func TestServerSideApplyRefusals(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")
	cfg := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n")
	for _, c := range []struct {
		what string
		name string
		body string
		opts metav1.PatchOptions
		want string
	}{
		{"no fieldManager", "web", string(cfg), metav1.PatchOptions{}, "fieldManager is required"},
		{"another name", "other", string(cfg), metav1.PatchOptions{FieldManager: "me"}, "does not match the name"},
		{"no kind", "web", "metadata:\n  name: web\n", metav1.PatchOptions{FieldManager: "me"}, "needs apiVersion and kind"},
		{"managedFields set", "web", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  managedFields: [{}]\n", metav1.PatchOptions{FieldManager: "me"}, "managedFields must be nil"},
		{"a value of the wrong type", "web", strings.Replace(string(cfg), "replicas: 1", "replicas: three", 1), metav1.PatchOptions{FieldManager: "me"}, "replicas"},
		{"an unknown field under Strict", "web", string(cfg) + "  colour: blue\n", metav1.PatchOptions{FieldManager: "me", FieldValidation: "Strict"}, "colour"},
		{"a fieldManager too long", "web", string(cfg), metav1.PatchOptions{FieldManager: strings.Repeat("m", 129)}, "at most 128"},
	} {
		_, err := deps.Patch(ctx, c.name, types.ApplyPatchType, []byte(c.body), c.opts)
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want a 400 naming %q, got %v", c.what, c.want, err)
		}
	}
	// force belongs to apply only.
	_, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{Force: new(true)})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "force") {
		t.Errorf("force on a merge patch: %v", err)
	}
	// A dry run creates nothing; an unknown field under Warn is dropped with a warning.
	valid := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"a":"b"}},
	 "template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`)
	if _, err := deps.Patch(ctx, "web", types.ApplyPatchType, valid, metav1.PatchOptions{FieldManager: "me", DryRun: []string{"All"}}); err != nil {
		t.Fatalf("dry-run apply: %v", err)
	}
	if list, _, _ := objs.List(ctx, api.KindDeployment, "", nil); len(list) != 0 {
		t.Fatalf("refused or dry-run applies stored %d objects", len(list))
	}
	// The status of an absent object is not found.
	_, err = deps.Patch(ctx, "web", types.ApplyPatchType, cfg, metav1.PatchOptions{FieldManager: "me"}, "status")
	if !apierrors.IsNotFound(err) {
		t.Errorf("status apply of an absent object: %v", err)
	}
	// CBOR is refused with the type to send.
	req, _ := http.NewRequest(http.MethodPatch, ts.URL+"/apis/apps/v1/namespaces/default/deployments/web?fieldManager=me", strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/apply-patch+cbor")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("CBOR apply: %d, want 415", resp.StatusCode)
	}
}

// TestManagedFieldsSurviveWritersThatIgnoreThem: a controller (or shoal
// apply) writing through the registry without managedFields keeps them;
// its status writes never touch them.
func TestManagedFieldsSurviveWritersThatIgnoreThem(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")
	if _, err := deps.Apply(ctx, webApply(2, nil), metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Fatal(err)
	}
	cur, err := objs.Get(ctx, api.KindDeployment, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	d := cur.(*api.Deployment)
	d.ManagedFields = nil
	d.Spec.Replicas = new(int32(4))
	if _, err := objs.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Status.ObservedGeneration = 9
	d.ManagedFields = []api.ManagedFieldsEntry{{Manager: "stale", Operation: "Update"}}
	if _, err := objs.UpdateStatus(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := managersOf(got)["alice/Apply/"]; !ok || len(got.ManagedFields) != 1 || *got.Spec.Replicas != 4 {
		t.Fatalf("managedFields %v after a controller's writes: want alice's entry alone", managersOf(got))
	}
}

// TestScaleOwnsReplicas: a write of the scale subresource makes its
// manager the owner of spec.replicas, so an apply of other replicas
// conflicts with it, as in Kubernetes.
func TestScaleOwnsReplicas(t *testing.T) {
	ts, _ := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")
	if _, err := deps.Apply(ctx, webApply(2, nil), metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`),
		metav1.PatchOptions{FieldManager: "scaler"}, "scale"); err != nil {
		t.Fatal(err)
	}
	d, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := managersOf(d)["scaler/Update/scale"]
	if !ok || !strings.Contains(string(e.FieldsV1.Raw), "f:replicas") || *d.Spec.Replicas != 4 {
		t.Fatalf("managedFields %v replicas %d: want scaler's Update entry of spec.replicas (subresource scale)", managersOf(d), *d.Spec.Replicas)
	}
	_, err = deps.Apply(ctx, webApply(2, nil), metav1.ApplyOptions{FieldManager: "alice"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `"scaler" with subresource "scale"`) {
		t.Fatalf("alice's apply of replicas after a scale: %v", err)
	}
}

// TestServerSideApplyWarnsOfUnknownFields: under fieldValidation=Warn an
// unknown field is a Warning header and is left out of the merge; the rest
// applies.
func TestServerSideApplyWarnsOfUnknownFields(t *testing.T) {
	ts, objs := newServer(t)
	body := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ncolour: blue\ndata:\n  a: \"1\"\n"
	req, _ := http.NewRequest(http.MethodPatch, ts.URL+"/api/v1/namespaces/default/configmaps/c?fieldManager=me&fieldValidation=Warn",
		strings.NewReader(body))
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(resp.Header.Get("Warning"), `unknown field \"colour\"`) {
		t.Fatalf("%d, Warning %q: want 201 and a warning naming colour", resp.StatusCode, resp.Header.Get("Warning"))
	}
	obj, err := objs.Get(context.Background(), api.KindConfigMap, "default", "c")
	if err != nil || obj.(*api.ConfigMap).Data["a"] != "1" {
		t.Fatalf("stored %v (%v)", obj, err)
	}
}
