package integration

import (
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ssaFiles is a Deployment and a ConfigMap as a user's file gives them;
// the variants leave out fields a later apply no longer sets.
func ssaFiles(replicas, tier, keyB bool) string {
	labels := "    app: ssa\n"
	if tier {
		labels += "    tier: front\n"
	}
	rep := ""
	if replicas {
		rep = "  replicas: 1\n"
	}
	data := "  a: \"1\"\n"
	if keyB {
		data += "  b: \"2\"\n"
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
  labels:
` + labels + `spec:
` + rep + `  selector:
    matchLabels:
      app: ssa
  template:
    metadata:
      labels:
        app: ssa
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: ` + testImage + `
        args: ["serve", "--port", "8080"]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa-cfg
data:
` + data
}

// TestKubectlServerSideApply drives server-side apply with the installed
// kubectl and with client-go's typed Apply, on a real agent.
func TestKubectlServerSideApply(t *testing.T) {
	a := startAgent(t)
	v1 := ssaFiles(true, true, true)

	out, errOut, err := a.kubectlIn(t, []byte(v1), "apply", "--server-side", "-f", "-")
	if err != nil || !strings.Contains(out, "deployment.apps/ssa serverside-applied") || !strings.Contains(out, "configmap/ssa-cfg serverside-applied") {
		t.Fatalf("first apply: %v\n%s%s", err, out, errOut)
	}
	state := func() string {
		return a.kubectlStdout(t, "get", "configmap/ssa-cfg", "deployment/ssa", "-o",
			"jsonpath={range .items[*]}{.metadata.name} {.metadata.generation} {.metadata.managedFields}{'\\n'}{end}")
	}
	cmRV := func() string {
		return a.kubectlStdout(t, "get", "configmap/ssa-cfg", "-o", "jsonpath={.metadata.resourceVersion}")
	}
	before, rv := state(), cmRV()

	// Twice is unchanged: the same generation, managers and (for the
	// ConfigMap, which has no status) resourceVersion.
	a.kubectlStdout(t, "apply", "--server-side", "-f", writeTemp(t, v1))
	if after := state(); after != before || cmRV() != rv {
		t.Fatalf("a second apply changed the objects:\nbefore %s (rv %s)\nafter  %s (rv %s)", before, rv, after, cmRV())
	}

	// Another manager's replicas conflict with kubectl's. (It applies only
	// replicas: the fields of a configuration are its manager's too, so a
	// copy of kubectl's file would keep what kubectl's later file drops.)
	other := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\nspec:\n  replicas: 2\n"
	out, errOut, err = a.kubectlIn(t, []byte(other), "apply", "--server-side", "--field-manager=other", "-f", "-")
	if err == nil || !strings.Contains(errOut, `conflict with "kubectl"`) || !strings.Contains(errOut, ".spec.replicas") {
		t.Fatalf("conflicting apply: want kubectl's conflict error naming .spec.replicas and \"kubectl\", got %v\n%s%s", err, out, errOut)
	}
	if r := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "jsonpath={.spec.replicas}"); r != "1" {
		t.Fatalf("a refused apply changed replicas to %s", r)
	}
	// --dry-run=server changes nothing either.
	a.kubectlStdout(t, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "--dry-run=server", "-f", writeTemp(t, other))
	if r := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "jsonpath={.spec.replicas}"); r != "1" {
		t.Fatalf("a dry-run apply changed replicas to %s", r)
	}
	// --force-conflicts takes replicas over.
	a.kubectlStdout(t, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", writeTemp(t, other))
	if r := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "jsonpath={.spec.replicas}"); r != "2" {
		t.Fatalf("forced apply: replicas %s, want 2", r)
	}
	yaml := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"managedFields:", "manager: kubectl", "manager: other", "operation: Apply", "f:replicas: {}"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("get -o yaml --show-managed-fields lacks %q:\n%s", want, yaml)
		}
	}
	if plain := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "yaml"); strings.Contains(plain, "managedFields") {
		t.Errorf("get -o yaml shows managedFields without --show-managed-fields")
	}

	// kubectl's file without the label tier, key b and replicas (other's
	// now): the label and the key go, other's replicas stay.
	a.kubectlStdout(t, "apply", "--server-side", "-f", writeTemp(t, ssaFiles(false, false, false)))
	if l := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "jsonpath={.metadata.labels}"); strings.Contains(l, "tier") {
		t.Errorf("label tier still there after it left the file: %s", l)
	}
	if d := a.kubectlStdout(t, "get", "configmap/ssa-cfg", "-o", "jsonpath={.data}"); strings.Contains(d, `"b"`) || !strings.Contains(d, `"a"`) {
		t.Errorf("data %s: want a kept and b removed", d)
	}
	if r := a.kubectlStdout(t, "get", "deployment/ssa", "-o", "jsonpath={.spec.replicas}"); r != "2" {
		t.Errorf("replicas %s: want other's 2 kept", r)
	}

	// kubectl scale takes replicas over (an Update of the scale
	// subresource): other's apply of its old value now conflicts with it.
	a.kubectlStdout(t, "scale", "deployment/ssa", "--replicas=3")
	out, errOut, err = a.kubectlIn(t, []byte(other), "apply", "--server-side", "--field-manager=other", "-f", "-")
	if err == nil || !strings.Contains(errOut, `with subresource "scale"`) || !strings.Contains(errOut, ".spec.replicas") {
		t.Fatalf("apply after a scale: want a conflict with the scale's manager, got %v\n%s%s", err, out, errOut)
	}

	// client-go's typed Apply adds a key under its own manager.
	cfg, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ContentType = "application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("default").Apply(ctx(t),
		corev1ac.ConfigMap("ssa-cfg", "default").WithData(map[string]string{"c": "3"}), metav1.ApplyOptions{FieldManager: "gopher"})
	if err != nil {
		t.Fatalf("client-go Apply: %v", err)
	}
	if cm.Data["a"] != "1" || cm.Data["c"] != "3" {
		t.Fatalf("client-go Apply: data %v, want a (kubectl's) and c (gopher's)", cm.Data)
	}
	managers := map[string]bool{}
	for _, e := range cm.ManagedFields {
		managers[e.Manager+"/"+string(e.Operation)] = true
	}
	if !managers["kubectl/Apply"] || !managers["gopher/Apply"] {
		t.Fatalf("managedFields of the ConfigMap: %v", managers)
	}
	// kubectl edit-style writes are Update entries under kubectl's manager.
	a.kubectlStdout(t, "label", "configmap/ssa-cfg", "team=blue")
	if mf := a.kubectlStdout(t, "get", "configmap/ssa-cfg", "-o", "jsonpath={.metadata.managedFields[*].manager}"); !strings.Contains(mf, "kubectl-label") {
		t.Errorf("kubectl label left no Update entry: managers %s", mf)
	}
}

// writeTemp writes content to a new file in the test's temporary directory.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
