package fieldmanager_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/fieldmanager"
)

const deployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
 "spec":{"replicas":%d,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
 "spec":{"containers":[{"name":"web","image":"%s"}]}}}}`

func deploy(replicas int, image string) []byte {
	return []byte(strings.NewReplacer("%d", itoa(replicas), "%s", image).Replace(deployment))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func decode(t *testing.T, doc []byte) *api.Deployment {
	t.Helper()
	var d api.Deployment
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("decode: %v\n%s", err, doc)
	}
	return &d
}

func managers(d *api.Deployment) map[string]string {
	out := map[string]string{}
	for _, e := range d.ManagedFields {
		out[e.Manager] = e.Operation
	}
	return out
}

func TestApplyCreatesThenConflictsThenForceTakesOver(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	k := api.KindDeployment
	out, err := m.Apply(k, fieldmanager.Main, nil, deploy(2, "nginx:1"), "alice", false)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	d := decode(t, out)
	if *d.Spec.Replicas != 2 || managers(d)["alice"] != "Apply" || len(d.ManagedFields) != 1 {
		t.Fatalf("first apply gave replicas %d, managers %v", *d.Spec.Replicas, managers(d))
	}
	if !strings.Contains(string(d.ManagedFields[0].FieldsV1.Raw), `"f:replicas"`) {
		t.Fatalf("alice's fields lack replicas: %s", d.ManagedFields[0].FieldsV1.Raw)
	}
	again, err := m.Apply(k, fieldmanager.Main, out, deploy(2, "nginx:1"), "alice", false)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if d2 := decode(t, again); *d2.Spec.Replicas != 2 || len(d2.ManagedFields) != 1 {
		t.Fatalf("applying the same configuration changed the object: %s", again)
	}

	_, err = m.Apply(k, fieldmanager.Main, out, deploy(5, "nginx:1"), "bob", false)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code() != http.StatusConflict {
		t.Fatalf("bob's conflicting apply: got %v, want a 409", err)
	}
	if !strings.Contains(se.Error(), `conflict with "alice"`) || !strings.Contains(se.Error(), ".spec.replicas") {
		t.Fatalf("conflict message %q does not name the field and its manager", se.Error())
	}
	if c := se.ErrStatus.Details.Causes; len(c) != 1 || c[0].Type != api.CauseFieldManagerConflict || c[0].Field != ".spec.replicas" {
		t.Fatalf("conflict causes: %+v", se.ErrStatus.Details.Causes)
	}

	forced, err := m.Apply(k, fieldmanager.Main, out, deploy(5, "nginx:1"), "bob", true)
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	d = decode(t, forced)
	if *d.Spec.Replicas != 5 || managers(d)["bob"] != "Apply" || managers(d)["alice"] != "Apply" {
		t.Fatalf("forced apply gave replicas %d, managers %v", *d.Spec.Replicas, managers(d))
	}
}

func TestApplyRemovesFieldsNoLongerApplied(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	k := api.KindConfigMap
	first := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default"},"data":{"a":"1","b":"2"}}`)
	out, err := m.Apply(k, fieldmanager.Main, nil, first, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	// Another manager adds its own key with an update.
	var cm map[string]any
	json.Unmarshal(out, &cm)
	cm["data"].(map[string]any)["c"] = "3"
	updated, _ := json.Marshal(cm)
	out, err = m.Update(k, fieldmanager.Main, out, updated, "kubectl-edit")
	if err != nil {
		t.Fatal(err)
	}
	second := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default"},"data":{"a":"1"}}`)
	out, err = m.Apply(k, fieldmanager.Main, out, second, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	var got api.ConfigMap
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "1" || got.Data["c"] != "3" || len(got.Data) != 2 {
		t.Fatalf("data %v: want a kept, b removed (alice stopped applying it), c kept (kubectl-edit owns it)", got.Data)
	}
	ops := map[string]string{}
	for _, e := range got.ManagedFields {
		ops[e.Manager] = e.Operation
	}
	if ops["alice"] != "Apply" || ops["kubectl-edit"] != "Update" {
		t.Fatalf("managers %v", ops)
	}
}

func TestApplyMergesContainersByName(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	k := api.KindDeployment
	out, err := m.Apply(k, fieldmanager.Main, nil, deploy(1, "nginx:1"), "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	// bob owns only the sidecar: a list item keyed by name, not the list.
	side := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
	 "spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}`)
	out, err = m.Apply(k, fieldmanager.Main, out, side, "bob", false)
	if err != nil {
		t.Fatalf("bob's apply of another container: %v", err)
	}
	d := decode(t, out)
	if n := len(d.Spec.Template.Spec.Containers); n != 2 {
		t.Fatalf("%d containers, want web and side merged by name: %s", n, out)
	}
}

func TestApplyOfAWrongTypeIsABadRequest(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	bad := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":"three"}}`)
	_, err := m.Apply(api.KindDeployment, fieldmanager.Main, nil, bad, "alice", false)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code() != http.StatusBadRequest || !strings.Contains(se.Error(), "replicas") {
		t.Fatalf("got %v, want a 400 naming replicas", err)
	}
}

func TestEveryKindHasAType(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	for _, k := range api.Kinds {
		doc := []byte(`{"metadata":{"name":"x"}}`)
		if _, err := m.Apply(k, fieldmanager.Main, nil, doc, "alice", false); err != nil {
			t.Errorf("%s: %v", k.Kind, err)
		}
	}
}

// TestListMapKeysAreKubernetes: container and Service ports are keyed by
// port and protocol, as in Kubernetes, so the same port over TCP and UDP
// are two items, and an item without a protocol is TCP's.
func TestListMapKeysAreKubernetes(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	svc := []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"default"},
	 "spec":{"ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53}]}}`)
	out, err := m.Apply(api.KindService, fieldmanager.Main, nil, svc, "alice", false)
	if err != nil {
		t.Fatalf("ports 53/UDP and 53 (TCP): %v", err)
	}
	var s api.Service
	if err := json.Unmarshal(out, &s); err != nil || len(s.Spec.Ports) != 2 {
		t.Fatalf("ports %+v (%v)", s.Spec.Ports, err)
	}
	if raw := string(s.ManagedFields[0].FieldsV1.Raw); !strings.Contains(raw, `k:{\"port\":53,\"protocol\":\"TCP\"}`) {
		t.Fatalf("the TCP item is not keyed by port and protocol: %s", raw)
	}
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
	 "spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":53,"protocol":"UDP"},{"containerPort":53}]}]}}`)
	if _, err := m.Apply(api.KindPod, fieldmanager.Main, nil, pod, "alice", false); err != nil {
		t.Fatalf("container ports 53/UDP and 53 (TCP): %v", err)
	}
}

// TestFinalizersAreASet: two managers each own their finalizer.
func TestFinalizersAreASet(t *testing.T) {
	m := fieldmanager.New(api.Kinds)
	a := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default","finalizers":["a.example/x"]}}`)
	b := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default","finalizers":["b.example/y"]}}`)
	out, err := m.Apply(api.KindConfigMap, fieldmanager.Main, nil, a, "alice", false)
	if err == nil {
		out, err = m.Apply(api.KindConfigMap, fieldmanager.Main, out, b, "bob", false)
	}
	var cm api.ConfigMap
	if err != nil || json.Unmarshal(out, &cm) != nil || len(cm.Finalizers) != 2 {
		t.Fatalf("finalizers %v (%v): want both managers' items", cm.Finalizers, err)
	}
}
