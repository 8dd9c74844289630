package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// useEditor makes a shell script the editor of the test's edits.
func useEditor(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "editor.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nset -e\nDIR="+dir+"\n"+script+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBE_EDITOR", "")
	t.Setenv("EDITOR", path)
	return dir
}

func TestEdit(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))

	useEditor(t, `sed -i '0,/replicas: 1$/s//replicas: 3/' "$1"`)
	r := shoal(t, srv, "", "edit", "deploy/web")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web edited\n" || replicasOf(srv, "web") != 3 {
		t.Fatalf("stdout %q, replicas %d", r.stdout, replicasOf(srv, "web"))
	}

	rv := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion
	useEditor(t, `true`)
	r = shoal(t, srv, "", "edit", "deployment", "web")
	expectOK(t, r)
	if r.stderr != "Edit cancelled, no changes made.\n" {
		t.Fatalf("unchanged: stderr %q", r.stderr)
	}
	useEditor(t, `: > "$1"`)
	r = shoal(t, srv, "", "edit", "deploy/web")
	expectOK(t, r)
	if r.stderr != "Edit cancelled, saved file was empty.\n" {
		t.Fatalf("emptied: stderr %q", r.stderr)
	}
	if now := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion; now != rv {
		t.Fatalf("a cancelled edit wrote the deployment")
	}
	// In JSON, with KUBE_EDITOR first.
	useEditor(t, `false`)
	dir := t.TempDir()
	script := filepath.Join(dir, "json-editor.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsed -i '0,/\"replicas\": 3,/s//\"replicas\": 5,/' \"$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBE_EDITOR", script)
	expectOK(t, shoal(t, srv, "", "edit", "deploy/web", "-o", "json"))
	if replicasOf(srv, "web") != 5 {
		t.Fatalf("json edit: replicas %d", replicasOf(srv, "web"))
	}
	t.Setenv("KUBE_EDITOR", "")
	if r := shoal(t, srv, "", "edit", "deploy/web"); r.code != 1 || !strings.Contains(r.stderr, "failed") || !strings.Contains(r.stderr, "set KUBE_EDITOR or EDITOR") {
		t.Fatalf("a failing editor: %d %q", r.code, r.stderr)
	}
}

func TestEditReopensOnError(t *testing.T) {
	// The copy of a refused edit is kept in the temporary directory: this
	// test's own, so that it can be read and leaves nothing behind.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	// The first save is refused; the file opens again with the reasons,
	// and the second save fixes it.
	dir := useEditor(t, `if grep -q 'was not valid' "$1"; then
  cp "$1" "$DIR/reopened"
  sed -i 's/replicas: -1$/replicas: 2/' "$1"
else
  sed -i '0,/replicas: 3$/s//replicas: -1/' "$1"
fi`)
	expectOK(t, shoal(t, srv, "", "scale", "deploy/web", "--replicas", "3"))
	r := shoal(t, srv, "", "edit", "deploy/web")
	expectOK(t, r)
	if replicasOf(srv, "web") != 2 {
		t.Fatalf("replicas %d after the second save, want 2", replicasOf(srv, "web"))
	}
	reopened, err := os.ReadFile(filepath.Join(dir, "reopened"))
	if err != nil {
		t.Fatalf("the file was not reopened: %v", err)
	}
	text := string(reopened)
	if !strings.HasPrefix(text, editHeader+"# deployments \"web\" was not valid:\n# * spec.replicas: ") || !strings.Contains(text, "replicas: -1") {
		t.Fatalf("reopened file:\n%s", text)
	}

	// Saving the refused text again gives up, and nothing changes.
	useEditor(t, `sed -i '0,/replicas: 2$/s//replicas: -1/' "$1"`)
	rv := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion
	r = shoal(t, srv, "", "edit", "deploy/web")
	if r.code != 1 || !strings.Contains(r.stderr, "edit cancelled, no valid changes were saved; a copy of your changes is in "+tmp+"/") {
		t.Fatalf("give up: %d %q", r.code, r.stderr)
	}
	copied, _ := filepath.Glob(filepath.Join(tmp, "shoal-edit-*.yaml"))
	if len(copied) != 1 {
		t.Fatalf("copies kept: %v, want one", copied)
	}
	if b, err := os.ReadFile(copied[0]); err != nil || !strings.Contains(string(b), "replicas: -1") {
		t.Fatalf("the kept copy lacks the refused change: %v\n%s", err, b)
	}
	if now := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion; now != rv {
		t.Fatalf("a refused edit wrote the deployment")
	}
	// Renaming is refused by name in the reopened file, then given up.
	useEditor(t, `sed -i 's/^  name: web$/  name: other/' "$1"`)
	r = shoal(t, srv, "", "edit", "deploy/web")
	if r.code != 1 || !strings.Contains(r.stderr, "no valid changes were saved") {
		t.Fatalf("rename: %d %q", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "edit", "deploy/nope"); r.code != 1 || !strings.Contains(r.stderr, `deployments "nope" not found`) {
		t.Fatalf("missing: %d %q", r.code, r.stderr)
	}
}

func TestDiff(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	live := srv.Object(api.KindDeployment, "default", "web").(*api.Deployment)
	manifest := func(replicas int, image string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ` + string(rune('0'+replicas)) + `
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ` + image + "\n"
	}
	r := shoal(t, srv, manifest(1, live.Spec.Template.Spec.Containers[0].Image), "diff", "-f", "-")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("same object: exit %d, stdout:\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	rv := live.ResourceVersion
	r = shoal(t, srv, manifest(4, "nginx:1.28"), "diff", "-f", "-")
	if r.code != 1 {
		t.Fatalf("changed object: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"diff -u -N LIVE/apps.v1.Deployment.default.web MERGED/apps.v1.Deployment.default.web\n",
		"--- LIVE/apps.v1.Deployment.default.web\n+++ MERGED/apps.v1.Deployment.default.web\n",
		"-  replicas: 1\n+  replicas: 4\n",
		"-      - image: nginx:1.27\n+      - image: nginx:1.28\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, r.stdout)
		}
	}
	// A new object is all additions.
	r = shoal(t, srv, strings.ReplaceAll(manifest(1, "nginx"), "name: web\n", "name: api\n"), "diff", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stdout, "+  name: api\n") || strings.Contains(r.stdout, "\n- ") || strings.Contains(r.stdout, "\n-  ") {
		t.Fatalf("new object: exit %d:\n%s", r.code, r.stdout)
	}
	if srv.Object(api.KindDeployment, "default", "api") != nil || srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion != rv {
		t.Fatalf("diff stored something")
	}
	// Errors exit 2, not 1 (which means "different").
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"diff"}, "-f is required"},
		{"kind: Widget\napiVersion: v1\nmetadata: {name: x}\n", []string{"diff", "-f", "-"}, "Widget"},
		{strings.Replace(manifest(1, "nginx"), "replicas: 1", "replicas: -1", 1), []string{"diff", "-f", "-"}, "spec.replicas"},
	} {
		if r := shoal(t, srv, c.stdin, c.args...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
