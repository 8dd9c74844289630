package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-dev/shoal/api"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func clientset(t *testing.T, url string) *kubernetes.Clientset {
	t.Helper()
	// The typed clients send protobuf by default, which shoal does not
	// speak: JSON is asked for, as a program against shoal must today.
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: url, QPS: 1000, Burst: 1000,
		ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// fileDeployment is a Deployment as a user's file gives it.
func fileDeployment(image string, env []corev1.EnvVar, ports []corev1.ContainerPort) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image, Env: env, Ports: ports,
				}}},
			},
		},
	}
}

// annotated is what kubectl apply sends or diffs against: the file's
// object carrying its own JSON in the last-applied annotation.
func annotated(t *testing.T, d *appsv1.Deployment) (*appsv1.Deployment, []byte, []byte) {
	t.Helper()
	file, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	c := d.DeepCopy()
	c.Annotations = map[string]string{lastApplied: string(file)}
	withAnn, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, file, withAnn
}

// TestClientGoPatchesAsKubectlMakesThem drives shoal's API with client-go
// and the patches kubectl computes: apply's three-way strategic merge
// patch, set image's two-way one, label's merge patch, a JSON patch, and
// patches of the scale and status subresources.
func TestClientGoPatchesAsKubectlMakesThem(t *testing.T) {
	ts, _ := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")

	// kubectl apply of a new object creates it with the annotation.
	first := fileDeployment("web:1",
		[]corev1.EnvVar{{Name: "MODE", Value: "blue"}, {Name: "LEVEL", Value: "info"}},
		[]corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "admin", ContainerPort: 9090}})
	obj, original, _ := annotated(t, first)
	if _, err := deps.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone else adds a sidecar and a label between the two applies.
	sidecar := `{"metadata":{"labels":{"team":"ops"}},"spec":{"template":{"spec":{"containers":[{"name":"log","image":"log:1"}]}}}}`
	if _, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(sidecar), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	live, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	current, _ := json.Marshal(live)

	// The edited file: new image, MODE changed, the admin port removed.
	edited := fileDeployment("web:2",
		[]corev1.EnvVar{{Name: "MODE", Value: "green"}, {Name: "LEVEL", Value: "info"}},
		[]corev1.ContainerPort{{Name: "http", ContainerPort: 80}})
	_, editedFile, modified := annotated(t, edited)
	meta, err := strategicpatch.NewPatchMetaFromStruct(appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, p, metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("apply patch %s: %v", p, err)
	}
	// The strategic merge put the sidecar first (as Kubernetes does):
	// containers are found by name.
	byName := map[string]corev1.Container{}
	for _, c := range got.Spec.Template.Spec.Containers {
		byName[c.Name] = c
	}
	app := byName["app"]
	if len(byName) != 2 || app.Image != "web:2" || byName["log"].Image != "log:1" {
		t.Fatalf("containers after apply: %+v", got.Spec.Template.Spec.Containers)
	}
	env := map[string]string{}
	for _, e := range app.Env {
		env[e.Name] = e.Value
	}
	if len(env) != 2 || env["MODE"] != "green" || env["LEVEL"] != "info" {
		t.Errorf("env after apply: %v", env)
	}
	if len(app.Ports) != 1 || app.Ports[0].ContainerPort != 80 {
		t.Errorf("ports after apply: %+v", app.Ports)
	}
	if got.Labels["team"] != "ops" || got.Annotations[lastApplied] != string(editedFile) {
		t.Errorf("labels %v, annotation %q", got.Labels, got.Annotations[lastApplied])
	}

	// kubectl set image: a two-way strategic merge patch.
	before, _ := json.Marshal(got)
	after := got.DeepCopy()
	after.Spec.Template.Spec.Containers[0].Image = "log:2"
	afterJSON, _ := json.Marshal(after)
	p, err = strategicpatch.CreateTwoWayMergePatch(before, afterJSON, appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = deps.Patch(ctx, "web", types.StrategicMergePatchType, p, metav1.PatchOptions{})
	if err != nil || got.Spec.Template.Spec.Containers[0].Image != "log:2" || got.Spec.Template.Spec.Containers[1].Image != "web:2" {
		t.Fatalf("set image %s: %v %+v", p, err, got)
	}

	// kubectl label and annotate: merge patches.
	got, err = deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"front","team":null}}}`), metav1.PatchOptions{})
	if err != nil || got.Labels["tier"] != "front" || got.Labels["team"] != "" {
		t.Fatalf("label: %v %v", err, got.Labels)
	}

	// A JSON patch with a test, as client-go programs send them.
	jp := `[{"op":"test","path":"/spec/template/spec/containers/1/name","value":"app"},
	{"op":"replace","path":"/spec/template/spec/containers/1/image","value":"web:3"},
	{"op":"remove","path":"/spec/template/spec/containers/0"}]`
	got, err = deps.Patch(ctx, "web", types.JSONPatchType, []byte(jp), metav1.PatchOptions{})
	if err != nil || len(got.Spec.Template.Spec.Containers) != 1 || got.Spec.Template.Spec.Containers[0].Image != "web:3" {
		t.Fatalf("JSON patch: %v %+v", err, got)
	}
	_, err = deps.Patch(ctx, "web", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":7}]`), metav1.PatchOptions{})
	if se, ok := err.(*apierrors.StatusError); !ok || se.ErrStatus.Code != http.StatusUnprocessableEntity {
		t.Fatalf("failed JSON patch test: %v", err)
	}

	// kubectl scale: a merge patch of the scale subresource; a strategic
	// one works too.
	for i, c := range []struct {
		pt   types.PatchType
		body string
	}{{types.MergePatchType, `{"spec":{"replicas":3}}`}, {types.StrategicMergePatchType, `{"spec":{"replicas":4}}`}, {types.JSONPatchType, `[{"op":"replace","path":"/spec/replicas","value":5}]`}} {
		sc, err := deps.Patch(ctx, "web", c.pt, []byte(c.body), metav1.PatchOptions{}, "scale")
		if err != nil {
			t.Fatalf("scale %s: %v", c.pt, err)
		}
		if d, _ := deps.Get(ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != int32(3+i) {
			t.Fatalf("scale %s: replicas %d (answer %s)", c.pt, *d.Spec.Replicas, sc.Name)
		}
	}

	// Status conditions merge by type.
	st := `{"status":{"conditions":[{"type":"Available","status":"True"},{"type":"Progressing","status":"True"}]}}`
	if _, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(st), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	st = `{"status":{"conditions":[{"type":"Available","status":"False"}]}}`
	got, err = deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(st), metav1.PatchOptions{}, "status")
	if err != nil || len(got.Status.Conditions) != 2 || got.Status.Conditions[0].Status != "False" {
		t.Fatalf("status patch: %v %+v", err, got.Status.Conditions)
	}
}

func TestPatchRefusals(t *testing.T) {
	ts, _ := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")
	for _, pt := range []types.PatchType{types.StrategicMergePatchType, types.MergePatchType, types.JSONPatchType} {
		body := `{"metadata":{"labels":{"a":"b"}}}`
		if pt == types.JSONPatchType {
			body = `[{"op":"add","path":"/metadata/labels/a","value":"b"}]`
		}
		if _, err := deps.Patch(ctx, "absent", pt, []byte(body), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s of an absent object: want NotFound, got %v", pt, err)
		}
	}
	if _, err := deps.Create(ctx, fileDeployment("web:1", nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1","labels":{"a":"b"}}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("a patch naming a stale resourceVersion: want Conflict, got %v", err)
	}
	_, err = deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"name":"other"}}`), metav1.PatchOptions{})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("renaming patch: want BadRequest, got %v", err)
	}
	// A field shoal lacks, with the order kubectl sends for its list: a
	// warning, or under strict validation a 400 naming it.
	unknown := `{"spec":{"template":{"spec":{"$setElementOrder/hostAliases":[{"ip":"10.0.0.1"}],"hostAliases":[{"ip":"10.0.0.1","hostnames":["db"]}]}}}}`
	obj := ts.URL + "/apis/apps/v1/namespaces/default/deployments/web"
	resp, b := do(t, "PATCH", obj+"?fieldValidation=Strict", "application/strategic-merge-patch+json", unknown)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "hostAliases") {
		t.Errorf("strict patch with an unknown field: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "PATCH", obj, "application/strategic-merge-patch+json", unknown)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Warning"), "hostAliases") {
		t.Errorf("patch with an unknown field: %d %q %s", resp.StatusCode, resp.Header.Get("Warning"), b)
	}
	resp, b = do(t, "PATCH", obj, "application/json", `{}`)
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "application/json-patch+json") {
		t.Errorf("plain JSON: %d %s", resp.StatusCode, b)
	}
	d, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || len(d.Labels) != 1 {
		t.Fatalf("a refused patch changed the object: %v %v", err, d.Labels)
	}
}

func TestDeleteOptionsFromClientGo(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	cs := clientset(t, ts.URL)
	d, err := cs.AppsV1().Deployments("default").Create(ctx, fileDeployment("web:1", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"},
		OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: string(d.UID), Controller: new(true)}}},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(0), Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "web:1"}}}}}}
	if _, err := objs.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	bad := metav1.DeletionPropagation("Sideways")
	if err := cs.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: &bad}); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "propagationPolicy") {
		t.Fatalf("unknown policy: %v", err)
	}
	stale := "1"
	if err := cs.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}}); !apierrors.IsConflict(err) {
		t.Fatalf("stale resourceVersion precondition: %v", err)
	}
	orphan := metav1.DeletePropagationOrphan
	if err := cs.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: &orphan, GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil || len(got.OwnerReferences) != 0 {
		t.Fatalf("orphaned ReplicaSet: %v %+v", err, got)
	}
}

// TestDryRunWritesNothing: kubectl diff and apply --dry-run=server send
// dryRun=All; the answer is the object as it would be, and nothing is
// stored.
func TestDryRunWritesNothing(t *testing.T) {
	ts, _ := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")
	all := []string{metav1.DryRunAll}
	if _, err := deps.Create(ctx, fileDeployment("web:1", nil, nil), metav1.CreateOptions{DryRun: all}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create stored it: %v", err)
	}
	created, err := deps.Create(ctx, fileDeployment("web:1", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:2"}]}}}}`
	got, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(p), metav1.PatchOptions{DryRun: all})
	if err != nil || got.Spec.Template.Spec.Containers[0].Image != "web:2" || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("dry-run patch answered %v %+v", err, got)
	}
	if _, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{DryRun: all}, "scale"); err != nil {
		t.Fatal(err)
	}
	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{DryRun: all}); err != nil {
		t.Fatal(err)
	}
	now, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || now.Spec.Template.Spec.Containers[0].Image != "web:1" || *now.Spec.Replicas != 1 || now.ResourceVersion != created.ResourceVersion {
		t.Fatalf("after dry runs: %v %+v", err, now)
	}
	resp, b := do(t, "PATCH", ts.URL+"/apis/apps/v1/namespaces/default/deployments/web?dryRun=Some", "application/merge-patch+json", `{}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "dryRun") {
		t.Fatalf("unknown dryRun value: %d %s", resp.StatusCode, b)
	}
}

// TestConcurrentPatchesAllLand: patches that race each other are applied
// again to the newer object, so each one's change stays.
func TestConcurrentPatchesAllLand(t *testing.T) {
	ts, _ := newServer(t)
	ctx := context.Background()
	deps := clientset(t, ts.URL).AppsV1().Deployments("default")
	if _, err := deps.Create(ctx, fileDeployment("web:1", nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 48
	errs := make(chan error, n)
	for i := range n {
		go func() {
			p := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"V%d","value":"x"}]}]}}}}`, i)
			_, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(p), metav1.PatchOptions{})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	d, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || len(d.Spec.Template.Spec.Containers[0].Env) != n {
		t.Fatalf("%v: %d env vars of %d", err, len(d.Spec.Template.Spec.Containers[0].Env), n)
	}
}
