package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// kubectlStdout runs the installed kubectl against the agent with its admin
// kubeconfig, and returns stdout alone (warnings go to stderr); a failure
// fails the test with stderr.
func (a *agent) kubectlStdout(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := a.kubectlIn(t, nil, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// kubectlIn runs kubectl with stdin and returns stdout, stderr and the error.
func (a *agent) kubectlIn(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	bin := kubectlBin(t)
	cmd := exec.Command(bin, append([]string{"--kubeconfig", a.kubeconfig(), "--request-timeout", "60s"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(a.dataDir, "kubectl-cache"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// kubectlBin is the installed kubectl; its absence fails the test (the
// machines that run this suite have it).
func kubectlBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not installed: scripts/test installs it")
	}
	return p
}

// header is the first line of a table, its columns split on runs of spaces.
func header(table string) string {
	first, _, _ := strings.Cut(table, "\n")
	return strings.Join(strings.Fields(first), " ")
}

// rowOf returns the table row whose first cell is name.
func rowOf(table, name string) []string {
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

func TestKubectlEverydayVerbs(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()

	// Discovery: the resources and versions kubectl finds.
	res := a.kubectlStdout(t, "api-resources")
	for _, want := range [][]string{
		{"pods", "po", "v1", "true", "Pod"},
		{"deployments", "deploy", "apps/v1", "true", "Deployment"},
		{"nodes", "no", "v1", "false", "Node"},
	} {
		if got := rowOf(res, want[0]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("api-resources row %s: got %q, want %q", want[0], got, want)
		}
	}
	if v := a.kubectlStdout(t, "api-versions"); !strings.Contains(v, "apps/v1\n") || !strings.Contains(v, "\nv1\n") {
		t.Errorf("api-versions: %s", v)
	}

	// apply creates, a second apply changes nothing, an edit patches.
	manifest := filepath.Join(dir, "web.yaml")
	os.WriteFile(manifest, []byte(deploymentYAML("web", 2, testImage)), 0o644)
	if out := a.kubectlStdout(t, "apply", "-f", manifest); !strings.Contains(out, "deployment.apps/web created") {
		t.Fatalf("first apply: %s", out)
	}
	if out := a.kubectlStdout(t, "apply", "-f", manifest); !strings.Contains(out, "deployment.apps/web unchanged") {
		t.Fatalf("second apply: %s", out)
	}
	a.kubectlStdout(t, "rollout", "status", "deployment/web", "--timeout=90s")

	// get: the same columns as shoal's own tables.
	pods := a.kubectlStdout(t, "get", "pods", "-l", "app=web")
	if h := header(pods); h != "NAME READY STATUS RESTARTS AGE" {
		t.Fatalf("get pods header %q:\n%s", h, pods)
	}
	if n := strings.Count(pods, "1/1"); n != 2 {
		t.Fatalf("want 2 ready pods:\n%s", pods)
	}
	if h := header(a.kubectlStdout(t, "get", "pods", "-o", "wide")); h != "NAME READY STATUS RESTARTS AGE IP NODE" {
		t.Errorf("get pods -o wide header %q", h)
	}
	if h := header(a.kubectlStdout(t, "get", "deployments")); h != "NAME READY UP-TO-DATE AVAILABLE AGE" {
		t.Errorf("get deployments header %q", h)
	}
	if out := a.kubectlStdout(t, "get", "deploy", "web", "--show-labels"); !strings.Contains(out, "app=web") {
		t.Errorf("--show-labels: %s", out)
	}
	names := strings.Fields(a.kubectlStdout(t, "get", "pods", "-o", "name", "--sort-by=.metadata.name"))
	if len(names) != 2 || names[0] > names[1] || !strings.HasPrefix(names[0], "pod/web-") {
		t.Errorf("-o name --sort-by: %q", names)
	}
	first := strings.TrimPrefix(names[0], "pod/")
	if out := a.kubectlStdout(t, "get", "pods", "--field-selector", "metadata.name="+first, "-o", "name"); strings.TrimSpace(out) != "pod/"+first {
		t.Errorf("--field-selector metadata.name=%s: %q", first, out)
	}
	if out := a.kubectlStdout(t, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"); out != "2" {
		t.Errorf("jsonpath: %q", out)
	}
	if out := a.kubectlStdout(t, "get", "pods", "-A", "-o", "name"); strings.Count(out, "pod/") < 2 {
		t.Errorf("-A: %q", out)
	}

	// An edit of the file patches only the edit.
	a.kubectlStdout(t, "annotate", "deployment/web", "team=blue")
	edited := strings.Replace(deploymentYAML("web", 3, testImage), "  labels: {app: web}\n", "  labels: {app: web, tier: front}\n", 1)
	os.WriteFile(manifest, []byte(edited), 0o644)
	if out, _, _ := a.kubectlIn(t, nil, "diff", "-f", manifest); !strings.Contains(out, "+  replicas: 3") {
		t.Errorf("diff does not show the edit:\n%s", out)
	}
	if out := a.kubectlStdout(t, "apply", "-f", manifest); !strings.Contains(out, "deployment.apps/web configured") {
		t.Fatalf("apply of the edit: %s", out)
	}
	got := a.kubectlStdout(t, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.team}")
	if got != "3 front blue" {
		t.Fatalf("after the edit: %q (want replicas 3, the new label and the annotation set by hand kept)", got)
	}

	// Verbs that patch.
	a.kubectlStdout(t, "scale", "deployment/web", "--replicas=1")
	a.kubectlStdout(t, "label", "deployment/web", "stage=test")
	a.kubectlStdout(t, "patch", "deployment/web", "--type=json", "-p", `[{"op":"add","path":"/metadata/labels/patched","value":"json"}]`)
	a.kubectlStdout(t, "patch", "deployment/web", "-p", `{"metadata":{"labels":{"patched":"strategic"}}}`)
	got = a.kubectlStdout(t, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.stage} {.metadata.labels.patched}")
	if got != "1 test strategic" {
		t.Fatalf("after scale, label and patch: %q", got)
	}
	a.kubectlStdout(t, "set", "image", "deployment/web", "app="+testImageV2)
	a.kubectlStdout(t, "rollout", "status", "deployment/web", "--timeout=90s")
	if out := a.kubectlStdout(t, "rollout", "history", "deployment/web"); !strings.Contains(out, "REVISION") {
		t.Errorf("rollout history: %s", out)
	}

	// describe shows the object and its events.
	desc := a.kubectlStdout(t, "describe", "deployment", "web")
	for _, want := range []string{"Name:", "web", "Replicas:", "Events:"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe deployment lacks %q:\n%s", want, desc)
		}
	}

	// logs and exec reach the pod.
	var pod string
	poll.Until(t, 60*time.Second, "one pod of the new image", func() error {
		out := a.kubectlStdout(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.containers[0].image} {.metadata.deletionTimestamp}{\"\\n\"}{end}")
		var live []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] == testImageV2 {
				live = append(live, f[0])
			}
		}
		if len(live) != 1 {
			return fmt.Errorf("pods: %q", out)
		}
		pod = live[0]
		return nil
	})
	if out := a.kubectlStdout(t, "exec", pod, "--", "echo", "hello from kubectl"); strings.TrimSpace(out) != "hello from kubectl" {
		t.Errorf("exec: %q", out)
	}
	a.kubectlStdout(t, "logs", pod, "--tail=5")

	// delete --wait returns when the pods and their containers are gone.
	a.kubectlStdout(t, "delete", "deployment", "web", "--wait", "--timeout=90s")
	poll.Until(t, 30*time.Second, "no pod of web", func() error {
		if out := a.kubectlStdout(t, "get", "pods", "-l", "app=web", "-o", "name"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("left: %s", out)
		}
		return nil
	})
}

// More of the everyday verbs: the generators that build objects on the
// client (create, run, expose), waiting, rollouts, editing through
// $EDITOR, kustomize, nodes and access checks.
func TestKubectlGeneratorsRolloutsAndNodes(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()
	a.kubectlStdout(t, "create", "deployment", "api", "--image="+testImage, "--replicas=2", "--", "/testapp", "serve", "--port", "8080")
	a.kubectlStdout(t, "wait", "--for=condition=Available", "deployment/api", "--timeout=90s")
	a.kubectlStdout(t, "expose", "deployment", "api", "--port=80", "--target-port=8080")
	if out := a.kubectlStdout(t, "get", "svc", "api", "-o", "jsonpath={.spec.ports[0].port} {.spec.selector.app}"); out != "80 api" {
		t.Errorf("expose: %q", out)
	}
	a.kubectlStdout(t, "run", "solo", "--image="+testImage, "--restart=Never", "--command", "--", "/testapp", "serve", "--port", "8080")
	a.kubectlStdout(t, "wait", "--for=condition=Ready", "pod/solo", "--timeout=90s")
	a.kubectlStdout(t, "set", "env", "deployment/api", "MODE=test")
	a.kubectlStdout(t, "rollout", "status", "deployment/api", "--timeout=90s")
	a.kubectlStdout(t, "rollout", "pause", "deployment/api")
	a.kubectlStdout(t, "set", "image", "deployment/api", "*="+testImageV2)
	a.kubectlStdout(t, "rollout", "resume", "deployment/api")
	a.kubectlStdout(t, "rollout", "status", "deployment/api", "--timeout=90s")
	a.kubectlStdout(t, "rollout", "undo", "deployment/api")
	a.kubectlStdout(t, "rollout", "status", "deployment/api", "--timeout=90s")
	if out := a.kubectlStdout(t, "get", "deploy", "api", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); out != testImage {
		t.Errorf("after undo the image is %q", out)
	}
	a.kubectlStdout(t, "rollout", "restart", "deployment/api")
	a.kubectlStdout(t, "rollout", "status", "deployment/api", "--timeout=90s")

	// edit through $EDITOR: a script that changes the replicas.
	editor := filepath.Join(dir, "editor.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 3/' \"$1\"\n"), 0o755)
	cmd := exec.Command(kubectlBin(t), "--kubeconfig", a.kubeconfig(), "edit", "deployment/api")
	cmd.Env = append(os.Environ(), "KUBE_EDITOR="+editor)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("edit: %v\n%s", err, out)
	}
	if out := a.kubectlStdout(t, "get", "deploy", "api", "-o", "jsonpath={.spec.replicas}"); out != "3" {
		t.Errorf("after edit: replicas %q", out)
	}

	// kustomize (-k) builds on the client and applies.
	kdir := filepath.Join(dir, "k")
	os.MkdirAll(kdir, 0o755)
	os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte("resources: [cm.yaml]\nnamePrefix: k-\ncommonLabels: {team: blue}\n"), 0o644)
	os.WriteFile(filepath.Join(kdir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\ndata: {a: b}\n"), 0o644)
	if out := a.kubectlStdout(t, "apply", "-k", kdir); !strings.Contains(out, "configmap/k-conf created") {
		t.Errorf("apply -k: %s", out)
	}

	// events, access checks, nodes.
	if out := a.kubectlStdout(t, "get", "events", "--field-selector", "involvedObject.name=solo"); !strings.Contains(out, "solo") {
		t.Errorf("events of solo: %s", out)
	}
	if out := a.kubectlStdout(t, "auth", "can-i", "create", "deployments"); strings.TrimSpace(out) != "yes" {
		t.Errorf("auth can-i: %q", out)
	}
	a.kubectlStdout(t, "cordon", a.name)
	if out := a.kubectlStdout(t, "get", "node", a.name, "-o", "jsonpath={.spec.unschedulable}"); out != "true" {
		t.Errorf("cordon: %q", out)
	}
	a.kubectlStdout(t, "uncordon", a.name)
	a.kubectlStdout(t, "delete", "pod", "solo", "--grace-period=1", "--wait", "--timeout=60s")
	if out, _, _ := a.kubectlIn(t, nil, "get", "pod", "solo"); strings.Contains(out, "solo") {
		t.Errorf("solo still listed after delete --wait: %s", out)
	}
}
