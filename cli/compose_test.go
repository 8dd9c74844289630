package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// runCompose runs `shoal compose ARGS...` in dir and returns its exit
// status, standard output and standard error.
func runCompose(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir) // no -f: the project is found in the working directory
	root := newRoot(&env{now: time.Now}, nil)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"compose"}, args...))
	code := run(context.Background(), root)
	return code, out.String(), errOut.String()
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "myapp")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestComposeConfigPrintsTheResolvedModel(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml":  "services:\n  web:\n    image: web:${TAG:-1}\n    ports: [\"8080:80\"]\n  dbg:\n    image: busybox\n    profiles: [debug]\n",
		"override.yaml": "services:\n  web:\n    environment: {MODE: prod}\n",
		".env":          "TAG=2\n",
	})
	code, out, errOut := runCompose(t, dir, "-f", "compose.yaml", "-f", "override.yaml", "config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"name: myapp", "image: web:2", "MODE: prod", "published: \"8080\""} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dbg") {
		t.Errorf("service of an inactive profile printed:\n%s", out)
	}
	code, out, _ = runCompose(t, dir, "-p", "other", "--profile", "debug", "config", "--format", "json")
	if code != 0 || !strings.Contains(out, `"name": "other"`) || !strings.Contains(out, `"dbg"`) {
		t.Errorf("-p other --profile debug config --format json: exit %d\n%s", code, out)
	}
}

func TestComposeConvertPrintsObjectsApplyReads(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": `services:
  web:
    image: web:1
    ports: ["30080:80"]
    environment: {ACCEPT_EULA: "Y", MODE: "0440"}
    ulimits: {nofile: 1024}
  cache:
    image: redis:7
    volumes: ["./data:/data"]
`,
	})
	code, out, errOut := runCompose(t, dir, "convert")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, `warning: service "web": ulimits: not honoured`) || !strings.Contains(errOut, "--pod-security privileged") {
		t.Errorf("warnings on stderr:\n%s", errOut)
	}
	docs, err := api.SplitDocuments(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, doc := range docs {
		d, err := api.Decode(doc)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if len(d.UnknownFields) > 0 {
			t.Errorf("%s: unknown fields %v", d.Kind.Kind, d.UnknownFields)
		}
		kinds[d.Kind.Kind]++
		if dep, ok := d.Object.(*api.Deployment); ok && dep.Name == "web" {
			for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
				if e.Value != "Y" && e.Value != "0440" {
					t.Errorf("env %s=%q: a string YAML 1.1 reads as another type must stay a string", e.Name, e.Value)
				}
			}
		}
	}
	if kinds["Namespace"] != 1 || kinds["Deployment"] != 2 || kinds["Service"] != 3 {
		t.Errorf("kinds %v, want a Namespace, 2 Deployments, 3 Services (2 names, 1 published)", kinds)
	}

	code, _, errOut = runCompose(t, dir, "convert", "--strict")
	if code == 0 || !strings.Contains(errOut, "--strict") {
		t.Errorf("--strict with warnings: exit %d, %s", code, errOut)
	}
	code, out, _ = runCompose(t, dir, "convert", "--pod-security", "privileged")
	if code != 0 || !strings.Contains(out, "pod-security.kubernetes.io/enforce: privileged") {
		t.Errorf("--pod-security privileged: exit %d\n%s", code, out)
	}
	if code, _, errOut = runCompose(t, dir, "convert", "--pod-security", "lax"); code == 0 || !strings.Contains(errOut, "lax") {
		t.Errorf("--pod-security lax: exit %d, %s", code, errOut)
	}
}

func TestComposeRefusalsNameServiceAndKey(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: web\n    devices: [\"/dev/fuse:/dev/fuse\"]\n",
	})
	code, out, errOut := runCompose(t, dir, "convert")
	if code == 0 || out != "" || !strings.Contains(errOut, `service "web": devices`) {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	dir = writeProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: web:${TAG?give TAG}\n"})
	if code, _, errOut = runCompose(t, dir, "config"); code == 0 || !strings.Contains(errOut, "give TAG") {
		t.Errorf("missing required variable: exit %d, %s", code, errOut)
	}
	dir = writeProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: web\n    bogus: 1\n"})
	if code, _, errOut = runCompose(t, dir, "config"); code == 0 || !strings.Contains(errOut, "bogus") {
		t.Errorf("unknown key: exit %d, %s", code, errOut)
	}
	dir = writeProject(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n"})
	if code, _, errOut = runCompose(t, dir, "config"); code == 0 || !strings.Contains(errOut, "cycle") {
		t.Errorf("depends_on cycle: exit %d, %s", code, errOut)
	}
}
