package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// helmBin is the Helm CLI the tests drive: $SHOAL_HELM (scripts/test builds
// Helm from its Go module and sets it), else helm on the PATH. Its absence
// fails the test.
func helmBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SHOAL_HELM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SHOAL_HELM=%s: %v", p, err)
		}
		return p
	}
	p, err := exec.LookPath("helm")
	if err != nil {
		t.Fatal("helm is not installed: scripts/test builds it (ensure_helm in scripts/lib.sh) and sets SHOAL_HELM")
	}
	return p
}

// helmRunner runs helm against an agent with its admin kubeconfig, keeping
// Helm's cache, configuration and data in a directory of the test.
type helmRunner struct {
	a   *agent
	bin string
	env []string
}

// helm4Bin is Helm 4's CLI: $SHOAL_HELM4 (scripts/test builds it from its
// Go module and sets it). Its absence fails the test.
func helm4Bin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SHOAL_HELM4")
	if p == "" {
		t.Fatal("Helm 4 is not given: scripts/test builds it (ensure_helm in scripts/lib.sh) and sets SHOAL_HELM4")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("SHOAL_HELM4=%s: %v", p, err)
	}
	return p
}

func newHelm(t *testing.T, a *agent) *helmRunner { return newHelmWith(t, a, helmBin(t)) }

func newHelmWith(t *testing.T, a *agent, bin string) *helmRunner {
	home := t.TempDir()
	return &helmRunner{a: a, bin: bin, env: append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))}
}

// run runs helm and returns its stdout; a failure fails the test with both
// outputs.
func (h *helmRunner) run(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := h.runBoth(t, args...)
	return out
}

// runBoth is run returning stderr too (where --debug logs).
func (h *helmRunner) runBoth(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := h.try(args...)
	if err != nil {
		t.Fatalf("helm %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out, errOut
}

// try runs helm and returns stdout, stderr and its error.
func (h *helmRunner) try(args ...string) (string, string, error) {
	cmd := exec.Command(h.bin, append([]string{"--kubeconfig", h.a.kubeconfig()}, args...)...)
	cmd.Env = h.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	h.a.t.Logf("helm %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out.String(), errOut.String(), err
}

// helmChart is a chart of the usual shape: a Deployment whose pods read a
// ConfigMap (and roll when it changes, through a checksum annotation), a
// Service in front of them, and a post-install/post-upgrade hook Job that
// Helm waits for and deletes once it succeeded. hookExit makes the hook
// fail; legacy adds a kind shoal does not serve.
var helmChart = map[string]string{
	"Chart.yaml": `apiVersion: v2
name: web
description: a chart of the shoal integration tests
type: application
version: 0.1.0
appVersion: "1"
`,
	"values.yaml": `image: shoal-testapp:v1
replicas: 2
greeting: hello
hookExit: 0
legacy: false
`,
	"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
      app.kubernetes.io/name: web
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
        app.kubernetes.io/name: web
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: {{ .Values.image }}
        args: ["serve", "--port", "8080"]
        ports:
        - name: http
          containerPort: 8080
        env:
        - name: GREETING
          valueFrom:
            configMapKeyRef:
              name: {{ .Release.Name }}-config
              key: greeting
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
`,
	"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/name: web
  ports:
  - name: http
    port: 80
    targetPort: http
`,
	"templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-hook
  annotations:
    "helm.sh/hook": post-install,post-upgrade
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: hook
        image: shoal-testapp:v1
        args: ["exit", "{{ .Values.hookExit }}"]
`,
	// A kind shoal does not serve, to see Helm stop before writing.
	"templates/widget.yaml": `{{- if .Values.legacy }}
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-legacy
spec:
  size: 1
{{- end }}
`,
}

// writeChart writes files under dir and returns dir.
func writeChart(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// helmRelease is a row of `helm list -o json` and `helm history -o json`.
type helmRelease struct {
	Name        string `json:"name"`
	Revision    any    `json:"revision"`
	Status      string `json:"status"`
	Chart       string `json:"chart"`
	Description string `json:"description"`
}

func decodeReleases(t *testing.T, out string) []helmRelease {
	t.Helper()
	var rs []helmRelease
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("helm's JSON: %v\n%s", err, out)
	}
	return rs
}

// TestHelmInstallUpgradeRollbackUninstall drives a release of a chart
// through its life with Helm 3 (client-side three-way strategic merges,
// releases stored in Secrets, --wait on Deployments, Services and hook Jobs)
// against a real agent.
func TestHelmInstallUpgradeRollbackUninstall(t *testing.T) {
	helmLifecycle(t, helmBin(t), false) // before the agent: a missing helm fails at once
}

// TestHelm4InstallUpgradeRollbackUninstall drives the same release with
// Helm 4, which installs with server-side apply (application/apply-patch+yaml,
// field manager "helm") and upgrades and rolls back the same way, and
// waits with its kstatus watcher.
func TestHelm4InstallUpgradeRollbackUninstall(t *testing.T) {
	helmLifecycle(t, helm4Bin(t), true)
}

func helmLifecycle(t *testing.T, bin string, helm4 bool) {
	a := startAgent(t)
	h := newHelmWith(t, a, bin)
	chart := writeChart(t, t.TempDir(), helmChart)
	const ns = "helm-it"
	kc := func(args ...string) string { return a.kubectlStdout(t, append([]string{"-n", ns}, args...)...) }

	h.run(t, "lint", chart)

	// Install: Helm makes the namespace, the objects, runs the hook Job and
	// waits for it (deleting it once it succeeded) and for the Deployment.
	out, debug := h.runBoth(t, "install", "web", chart, "-n", ns, "--create-namespace", "--wait", "--timeout", "2m", "--debug")
	if !strings.Contains(out, "STATUS: deployed") || !strings.Contains(out, "REVISION: 1") {
		t.Fatalf("helm install said:\n%s", out)
	}
	// Helm watched the hook Job to its completion, then deleted it (it
	// also tries a delete before creating it: before-hook-creation).
	if !helm4 {
		watched := strings.Index(debug, "Watching for changes to Job web-hook")
		if watched < 0 || !strings.Contains(debug[watched:], `Starting delete for "web-hook" Job`) {
			t.Fatalf("helm install --debug did not log watching the hook Job, then deleting it:\n%s", debug)
		}
	} else {
		// Helm 4 logs its server-side applies and its kstatus wait on
		// the hook Job, then the Job's deletion.
		watched := strings.Index(debug, "name=web-hook kind=Job expectedStatus=Current")
		if !strings.Contains(debug, "using server-side apply") || watched < 0 ||
			!strings.Contains(debug[watched:], `starting delete resource" namespace=helm-it name=web-hook kind=Job`) {
			t.Fatalf("helm 4 install --debug did not log server-side applies and waiting for the hook Job, then deleting it:\n%s", debug)
		}
	}
	if got := kc("get", "deploy", "web-web", "-o", "jsonpath={.status.readyReplicas} {.spec.template.spec.containers[0].image}"); got != "2 shoal-testapp:v1" {
		t.Fatalf("after install the Deployment is %q, want 2 ready of shoal-testapp:v1", got)
	}
	if got := kc("get", "svc", "web-web", "-o", "jsonpath={.spec.ports[0].port} {.spec.clusterIP}"); !strings.HasPrefix(got, "80 ") || len(got) < 5 {
		t.Fatalf("after install the Service is %q", got)
	}
	if got := kc("get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"); got != "hello" {
		t.Fatalf("after install the ConfigMap says %q, want hello", got)
	}
	if helm4 {
		// Helm 4 installed by server-side apply: its field manager owns
		// the fields, by an Apply operation.
		got := kc("get", "cm", "web-config", "--show-managed-fields", "-o",
			`jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}`)
		if !strings.Contains(got, "helm/Apply") {
			t.Fatalf("the ConfigMap's managedFields after a Helm 4 install: %q, want helm/Apply", got)
		}
	}
	if got := kc("get", "jobs", "-o", "name"); strings.TrimSpace(got) != "" {
		t.Fatalf("the succeeded hook Job should have been deleted by Helm, found %q", got)
	}
	// The release is a Secret of Helm's type with Helm's labels.
	secrets := kc("get", "secrets", "-l", "owner=helm,name=web", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.type} {.metadata.labels.status} {.metadata.labels.version}{"\n"}{end}`)
	if strings.TrimSpace(secrets) != "sh.helm.release.v1.web.v1 helm.sh/release.v1 deployed 1" {
		t.Fatalf("release Secrets after install:\n%s", secrets)
	}
	if out := h.run(t, "status", "web", "-n", ns); !strings.Contains(out, "STATUS: deployed") {
		t.Fatalf("helm status:\n%s", out)
	}

	// Upgrade to image v2 and another greeting: a three-way merge of the
	// release's manifest, the chart's and the live objects.
	out = h.run(t, "upgrade", "web", chart, "-n", ns, "--set", "image=shoal-testapp:v2,greeting=bonjour", "--wait", "--timeout", "2m")
	if !strings.Contains(out, "STATUS: deployed") || !strings.Contains(out, "REVISION: 2") {
		t.Fatalf("helm upgrade said:\n%s", out)
	}
	if got := kc("get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"); got != "bonjour" {
		t.Fatalf("after upgrade the ConfigMap says %q, want bonjour", got)
	}
	waitHelmPods(t, a, ns, "shoal-testapp:v2", 2)
	if got := kc("get", "deploy", "web-web", "-o", "jsonpath={.status.readyReplicas} {.status.updatedReplicas}"); got != "2 2" {
		t.Fatalf("after upgrade --wait the Deployment has ready and updated %q, want 2 2", got)
	}
	pod := strings.TrimPrefix(strings.Fields(kc("get", "pods", "-l", "app.kubernetes.io/name=web", "-o", "name"))[0], "pod/")
	if env := kc("exec", pod, "--", "/testapp", "env"); !strings.Contains(env, "GREETING=bonjour") {
		t.Fatalf("a pod after upgrade has no GREETING=bonjour:\n%s", env)
	}

	hist := decodeReleases(t, h.run(t, "history", "web", "-n", ns, "-o", "json"))
	if len(hist) != 2 || hist[0].Status != "superseded" || hist[1].Status != "deployed" {
		t.Fatalf("helm history after upgrade: %+v", hist)
	}

	// Roll back to revision 1: image v1 and hello again, as revision 3.
	out = h.run(t, "rollback", "web", "1", "-n", ns, "--wait", "--timeout", "2m")
	if !strings.Contains(out, "Rollback was a success") {
		t.Fatalf("helm rollback said:\n%s", out)
	}
	if got := kc("get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"); got != "hello" {
		t.Fatalf("after rollback the ConfigMap says %q, want hello", got)
	}
	waitHelmPods(t, a, ns, "shoal-testapp:v1", 2)
	if got := kc("get", "deploy", "web-web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.status.readyReplicas}"); got != "shoal-testapp:v1 2" {
		t.Fatalf("after rollback the Deployment is %q", got)
	}
	hist = decodeReleases(t, h.run(t, "history", "web", "-n", ns, "-o", "json"))
	if len(hist) != 3 || hist[2].Status != "deployed" || !strings.Contains(hist[2].Description, "Rollback to 1") {
		t.Fatalf("helm history after rollback: %+v", hist)
	}
	list := decodeReleases(t, h.run(t, "list", "-n", ns, "-o", "json"))
	if len(list) != 1 || list[0].Name != "web" || list[0].Status != "deployed" || list[0].Chart != "web-0.1.0" {
		t.Fatalf("helm list: %+v", list)
	}
	if n := len(strings.Fields(kc("get", "secrets", "-l", "owner=helm,name=web", "-o", "name"))); n != 3 {
		t.Fatalf("%d release Secrets after rollback, want 3", n)
	}

	// Uninstall with --wait: the objects and the release's Secrets go.
	out = h.run(t, "uninstall", "web", "-n", ns, "--wait", "--timeout", "2m")
	if !strings.Contains(out, `release "web" uninstalled`) {
		t.Fatalf("helm uninstall said:\n%s", out)
	}
	for _, kind := range []string{"deployments", "services", "configmaps/web-config", "jobs"} {
		got, errOut, err := a.kubectlIn(t, nil, "-n", ns, "get", kind, "-o", "name", "--ignore-not-found")
		if err != nil {
			t.Fatalf("kubectl get %s: %v: %s", kind, err, errOut)
		}
		if strings.TrimSpace(got) != "" {
			t.Fatalf("after uninstall --wait there still is %s", got)
		}
	}
	if got := kc("get", "secrets", "-l", "owner=helm", "-o", "name"); strings.TrimSpace(got) != "" {
		t.Fatalf("release Secrets after uninstall: %s", got)
	}
	if list := decodeReleases(t, h.run(t, listAll(helm4, "-n", ns, "-o", "json")...)); len(list) != 0 {
		t.Fatalf("helm list after uninstall: %+v", list)
	}
	// A chart with a kind shoal does not serve fails before Helm writes
	// anything: no namespace, no object, no release.
	_, errOut, err := h.try("install", "legacy", chart, "-n", "helm-legacy", "--create-namespace", "--set", "legacy=true", "--wait", "--timeout", "2m")
	if err == nil || !strings.Contains(errOut, `no matches for kind "Widget"`) {
		t.Fatalf("helm install of a chart with a custom resource shoal does not serve: err %v, stderr:\n%s", err, errOut)
	}
	if out, _, _ := a.kubectlIn(t, nil, "get", "ns", "helm-legacy", "-o", "name", "--ignore-not-found"); strings.TrimSpace(out) != "" {
		t.Fatalf("the refused install made its namespace: %s", out)
	}

	// A hook Job that fails fails the release, saying which.
	_, errOut, err = h.try("install", "failing", chart, "-n", ns, "--set", "hookExit=1", "--timeout", "2m")
	failedHook := "job failing-hook failed"
	if helm4 { // Helm 4 waits on hooks with its kstatus watcher
		failedHook = "Job/" + ns + "/failing-hook not ready. status: Failed"
	}
	if err == nil || !strings.Contains(errOut, failedHook) {
		t.Fatalf("helm install with a failing hook: err %v, stderr:\n%s", err, errOut)
	}
	if list := decodeReleases(t, h.run(t, listAll(helm4, "-n", ns, "-o", "json")...)); len(list) != 1 || list[0].Status != "failed" {
		t.Fatalf("helm list after a failed hook: %+v", list)
	}
	h.run(t, "uninstall", "failing", "-n", ns, "--wait", "--timeout", "2m")

	poll.Cond(t, 60*time.Second, "the release's pods to go", func() bool {
		if strings.TrimSpace(kc("get", "pods", "-l", "app.kubernetes.io/instance=web", "-o", "name")) == "" {
			return true
		}
		time.Sleep(300 * time.Millisecond) // each check runs kubectl
		return false
	})
}

// listAll is `helm list ARGS` of releases in every status: Helm 3 needs -a,
// Helm 4 lists them all by default and has no -a.
func listAll(helm4 bool, args ...string) []string {
	if helm4 {
		return append([]string{"list"}, args...)
	}
	return append([]string{"list", "-a"}, args...)
}

// waitHelmPods waits until exactly n pods of the chart's Deployment exist,
// all of image and Ready, and none terminating.
func waitHelmPods(t *testing.T, a *agent, ns, image string, n int) {
	t.Helper()
	poll.True(t, 90*time.Second, "the release's pods to be "+image, func() (bool, string) {
		out := a.kubectlStdout(t, "-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=web", "-o",
			`jsonpath={range .items[*]}{.spec.containers[0].image} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		ok := len(lines) == n
		for _, l := range lines {
			if f := strings.Fields(l); len(f) != 2 || f[0] != image || f[1] != "True" {
				ok = false
			}
		}
		if !ok {
			time.Sleep(300 * time.Millisecond) // each check runs kubectl
		}
		return ok, out
	})
}
