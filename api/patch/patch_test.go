package patch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/shoal-dev/shoal/api"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// k8sDeployment is a Deployment as a user's file gives it.
func k8sDeployment(image string, env []corev1.EnvVar, ports []corev1.ContainerPort) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: image, Env: env, Ports: ports,
				}}},
			},
		},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withLastApplied returns the JSON of obj carrying its own JSON in the
// last-applied annotation, as kubectl apply writes it.
func withLastApplied(t *testing.T, d *appsv1.Deployment) []byte {
	t.Helper()
	c := d.DeepCopy()
	c.Annotations = map[string]string{lastApplied: string(mustJSON(t, d))}
	return mustJSON(t, c)
}

// kubectlApplyPatch computes the patch kubectl apply sends: a three-way
// strategic merge patch over Kubernetes' own types.
func kubectlApplyPatch(t *testing.T, original, modified, current []byte) []byte {
	t.Helper()
	meta, err := strategicpatch.NewPatchMetaFromStruct(appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeDeployment(t *testing.T, b []byte) *api.Deployment {
	t.Helper()
	var d api.Deployment
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("result is not a Deployment: %v\n%s", err, b)
	}
	return &d
}

func TestKubectlThreeWayPatchChangesOnlyTheEditAndKeepsOthersWrites(t *testing.T) {
	env := []corev1.EnvVar{{Name: "MODE", Value: "blue"}, {Name: "LEVEL", Value: "info"}}
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "admin", ContainerPort: 9090}}
	first := k8sDeployment("web:1", env, ports)
	original := mustJSON(t, first)

	// The live object: what the first apply stored, plus writes of
	// others kubectl apply must keep: a sidecar container, an env var
	// and a label added by hand, the replicas a scale set.
	live := first.DeepCopy()
	live.Annotations = map[string]string{lastApplied: string(original)}
	live.Labels["team"] = "ops"
	live.Spec.Replicas = new(int32(4))
	live.Spec.Template.Spec.Containers[0].Env = append(live.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
	live.Spec.Template.Spec.Containers = append(live.Spec.Template.Spec.Containers, corev1.Container{Name: "log", Image: "log:1"})
	current := mustJSON(t, live)

	// The edit: a new image, MODE changed, the admin port gone.
	edited := k8sDeployment("web:2",
		[]corev1.EnvVar{{Name: "MODE", Value: "green"}, {Name: "LEVEL", Value: "info"}},
		[]corev1.ContainerPort{{Name: "http", ContainerPort: 80}})
	p := kubectlApplyPatch(t, original, withLastApplied(t, edited), current)
	if !strings.Contains(string(p), "$setElementOrder") || !strings.Contains(string(p), `"$patch":"delete"`) {
		t.Fatalf("the patch kubectl makes should carry directives; got %s", p)
	}

	out, err := Apply(StrategicMergePatch, current, p, &api.Deployment{}, Limits{})
	if err != nil {
		t.Fatalf("apply %s: %v", p, err)
	}
	d := decodeDeployment(t, out)
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Name != "web" || cs[1].Name != "log" {
		t.Fatalf("containers = %+v, want web (patched) then log (kept)", cs)
	}
	if cs[0].Image != "web:2" || cs[1].Image != "log:1" {
		t.Errorf("images = %s, %s; want web:2, log:1", cs[0].Image, cs[1].Image)
	}
	gotEnv := map[string]string{}
	for _, e := range cs[0].Env {
		gotEnv[e.Name] = e.Value
	}
	if want := map[string]string{"MODE": "green", "LEVEL": "info", "DEBUG": "1"}; fmt.Sprint(gotEnv) != fmt.Sprint(want) {
		t.Errorf("env = %v, want %v", gotEnv, want)
	}
	if len(cs[0].Ports) != 1 || cs[0].Ports[0].ContainerPort != 80 {
		t.Errorf("ports = %+v, want only 80", cs[0].Ports)
	}
	if d.Labels["team"] != "ops" || d.Spec.Replicas == nil || *d.Spec.Replicas != 4 {
		t.Errorf("labels %v replicas %v: the writes of others were lost", d.Labels, d.Spec.Replicas)
	}
	if d.Annotations[lastApplied] != string(mustJSON(t, edited)) {
		t.Errorf("last-applied annotation not updated: %s", d.Annotations[lastApplied])
	}
}

func TestStrategicDirectives(t *testing.T) {
	cur := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","finalizers":["a","b"]},
	"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}},
	"template":{"spec":{
	  "volumes":[{"name":"data","emptyDir":{}},{"name":"conf","configMap":{"name":"c"}}],
	  "containers":[{"name":"a","image":"a:1","ports":[{"containerPort":80},{"containerPort":81}]},{"name":"b","image":"b:1"}]}}}}`
	cases := []struct {
		name, patch string
		check       func(d *api.Deployment) error
	}{
		{"delete one container by its merge key", `{"spec":{"template":{"spec":{"containers":[{"name":"b","$patch":"delete"}]}}}}`,
			func(d *api.Deployment) error {
				if cs := d.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "a" {
					return fmt.Errorf("containers %+v", cs)
				}
				return nil
			}},
		{"replace a whole list", `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"c:1"}],"$patch":"replace"}}}}`,
			func(d *api.Deployment) error {
				if cs := d.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != "c" || len(d.Spec.Template.Spec.Volumes) != 0 {
					return fmt.Errorf("containers %+v volumes %+v", cs, d.Spec.Template.Spec.Volumes)
				}
				return nil
			}},
		{"merge a port in, keep the others", `{"spec":{"template":{"spec":{"containers":[{"name":"a","ports":[{"containerPort":82}]}]}}}}`,
			func(d *api.Deployment) error {
				if ps := d.Spec.Template.Spec.Containers[0].Ports; len(ps) != 3 {
					return fmt.Errorf("ports %+v", ps)
				}
				return nil
			}},
		{"retainKeys drops the old strategy's fields", `{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}`,
			func(d *api.Deployment) error {
				if s := d.Spec.Strategy; s.Type != "Recreate" || s.RollingUpdate != nil {
					return fmt.Errorf("strategy %+v", s)
				}
				return nil
			}},
		{"retainKeys switches a volume's source", `{"spec":{"template":{"spec":{"volumes":[{"name":"data","$retainKeys":["name","hostPath"],"hostPath":{"path":"/srv"}}]}}}}`,
			func(d *api.Deployment) error {
				v := d.Spec.Template.Spec.Volumes[0]
				if v.Name != "data" || v.EmptyDir != nil || v.HostPath == nil || v.HostPath.Path != "/srv" {
					return fmt.Errorf("volume %+v", v)
				}
				return nil
			}},
		{"delete from a primitive list", `{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}`,
			func(d *api.Deployment) error {
				if f := d.Finalizers; len(f) != 1 || f[0] != "b" {
					return fmt.Errorf("finalizers %v", f)
				}
				return nil
			}},
		{"setElementOrder orders the merged list", `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}}}}`,
			func(d *api.Deployment) error {
				if cs := d.Spec.Template.Spec.Containers; cs[0].Name != "b" || cs[1].Name != "a" {
					return fmt.Errorf("containers %+v", cs)
				}
				return nil
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Apply(StrategicMergePatch, []byte(cur), []byte(c.patch), &api.Deployment{}, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.check(decodeDeployment(t, out)); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

func TestServicePortsMergeByPort(t *testing.T) {
	cur := `{"spec":{"ports":[{"name":"http","port":80},{"name":"https","port":443}]}}`
	out, err := Apply(StrategicMergePatch, []byte(cur), []byte(`{"spec":{"ports":[{"port":443,"name":"tls"}]}}`), &api.Service{}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var s api.Service
	_ = json.Unmarshal(out, &s)
	if len(s.Spec.Ports) != 2 || s.Spec.Ports[1].Name != "tls" {
		t.Fatalf("ports %+v", s.Spec.Ports)
	}
}

func TestJSONPatch(t *testing.T) {
	cur := `{"metadata":{"name":"web","labels":{"a":"1"}},"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`
	p := `[{"op":"replace","path":"/spec/replicas","value":3},
	{"op":"test","path":"/spec/template/spec/containers/0/name","value":"a"},
	{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"a:2"},
	{"op":"remove","path":"/spec/template/spec/containers/1"},
	{"op":"add","path":"/metadata/labels/b","value":"2"}]`
	out, err := Apply(JSONPatch, []byte(cur), []byte(p), nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := decodeDeployment(t, out)
	if *d.Spec.Replicas != 3 || len(d.Spec.Template.Spec.Containers) != 1 || d.Spec.Template.Spec.Containers[0].Image != "a:2" || d.Labels["b"] != "2" {
		t.Fatalf("result %s", out)
	}
}

func TestBadPatchesAreRefusedWithTheirCode(t *testing.T) {
	cur := []byte(`{"metadata":{"name":"web"},"spec":{"replicas":1}}`)
	many := "[" + strings.Repeat(`{"op":"test","path":"/spec/replicas","value":1},`, 11) + `{"op":"test","path":"/spec/replicas","value":1}]`
	// Copies that double the document each time pass the operation
	// bound but not the copy bound.
	big := `{"x":"` + strings.Repeat("y", 1<<20) + `"}`
	copies := `[{"op":"add","path":"/a","value":` + big + `}` + strings.Repeat(`,{"op":"copy","from":"/a","path":"/b"}`, 12) + `]`
	cases := []struct {
		name  string
		typ   Type
		patch string
		lim   Limits
		code  int
		says  string
	}{
		{"merge patch not JSON", MergePatch, `{`, Limits{}, http.StatusBadRequest, "merge patch"},
		{"JSON patch not a list", JSONPatch, `{"op":"add"}`, Limits{}, http.StatusBadRequest, "JSON array of operations"},
		{"JSON patch test fails", JSONPatch, `[{"op":"test","path":"/spec/replicas","value":2}]`, Limits{}, http.StatusUnprocessableEntity, "JSON patch"},
		{"JSON patch path missing", JSONPatch, `[{"op":"remove","path":"/spec/nothing"}]`, Limits{}, http.StatusUnprocessableEntity, "JSON patch"},
		{"JSON patch too many operations", JSONPatch, many, Limits{MaxJSONPatchOperations: 10}, http.StatusRequestEntityTooLarge, "12 operations; at most 10"},
		{"JSON patch copies too much", JSONPatch, copies, Limits{}, http.StatusUnprocessableEntity, "copy"},
		{"strategic patch not JSON", StrategicMergePatch, `[1]`, Limits{}, http.StatusBadRequest, "strategic merge patch"},
		{"strategic patch bad directive", StrategicMergePatch, `{"spec":{"$patch":"explode"}}`, Limits{}, http.StatusUnprocessableEntity, "explode"},
		{"strategic patch null", StrategicMergePatch, `null`, Limits{}, http.StatusBadRequest, "strategic merge patch"},
		// The library panics on this one (it compares merge key values
		// that cannot be compared): a refusal, not a crash.
		{"strategic order by a merge key that is an object", StrategicMergePatch,
			`{"metadata":{"$setElementOrder/ownerReferences":[{"uid":{"a":1}}],"ownerReferences":[{"uid":{"a":1}}]}}`,
			Limits{}, http.StatusUnprocessableEntity, "does not fit"},
		{"server-side apply", ApplyPatchYAML, `{}`, Limits{}, http.StatusUnsupportedMediaType, "server-side apply"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Apply(c.typ, cur, []byte(c.patch), &api.Deployment{}, c.lim)
			var se *api.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a Status error", err)
			}
			if int(se.ErrStatus.Code) != c.code || !strings.Contains(se.Error(), c.says) {
				t.Fatalf("got %d %q, want %d saying %q", se.ErrStatus.Code, se.Error(), c.code, c.says)
			}
		})
	}
}

func TestParseTypeNamesTheAcceptedTypes(t *testing.T) {
	for ct, want := range map[string]Type{
		"application/strategic-merge-patch+json":      StrategicMergePatch,
		"application/merge-patch+json; charset=utf-8": MergePatch,
		"application/json-patch+json":                 JSONPatch,
		"application/apply-patch+yaml":                ApplyPatchYAML,
	} {
		if got, err := ParseType(ct); err != nil || got != want {
			t.Errorf("ParseType(%q) = %q, %v", ct, got, err)
		}
	}
	for _, ct := range []string{"", "application/json", "text/plain", "application/apply-patch+cbor"} {
		_, err := ParseType(ct)
		var se *api.StatusError
		if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusUnsupportedMediaType ||
			!strings.Contains(se.Error(), string(StrategicMergePatch)) || !strings.Contains(se.Error(), string(JSONPatch)) {
			t.Errorf("ParseType(%q): %v; want a 415 naming the accepted types", ct, err)
		}
	}
}

// TestStrategicPatchOfAFieldShoalLacksKeepsItForDecoding: kubectl sends
// $setElementOrder for Kubernetes' merge lists, some of which shoal's types
// do not have (hostAliases); the patch applies, and the field stays in the
// result for decoding to report as unknown.
func TestStrategicPatchOfAFieldShoalLacks(t *testing.T) {
	cur := `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"}]}}}}`
	p := `{"spec":{"template":{"spec":{
	  "$setElementOrder/hostAliases":[{"ip":"10.0.0.1"}],"hostAliases":[{"ip":"10.0.0.1","hostnames":["db"]}],
	  "$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"a","image":"a:2"}]}}}}`
	out, err := Apply(StrategicMergePatch, []byte(cur), []byte(p), &api.Deployment{}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	obj, unknown, err := api.DecodeInto(api.KindDeployment, append([]byte(`{"apiVersion":"apps/v1","kind":"Deployment",`), out[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	d := obj.(*api.Deployment)
	if d.Spec.Template.Spec.Containers[0].Image != "a:2" || len(unknown) != 1 || !strings.Contains(unknown[0], "hostAliases") {
		t.Fatalf("image %s, unknown %v", d.Spec.Template.Spec.Containers[0].Image, unknown)
	}
}
