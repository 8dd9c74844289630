package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

const manifest = `# two objects in one file
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
data:
  a: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  foo: bar
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
`

func applyRequests(srv *clienttest.Server) []clienttest.Request {
	var out []clienttest.Request
	for _, r := range srv.Requests() {
		if r.Path == "/shoal/v1/apply" {
			out = append(out, r)
		}
	}
	return out
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyMultiDocumentFile(t *testing.T) {
	srv := clienttest.NewServer(t)
	file := writeFile(t, t.TempDir(), "web.yaml", manifest)
	r := shoal(t, srv, "", "apply", "-f", file)
	expectOK(t, r)
	if want := "configmap/conf created\ndeployment.apps/web created\n"; r.stdout != want {
		t.Fatalf("stdout %q, want %q", r.stdout, want)
	}
	// The warning comes both as a header and in the item: printed once.
	if r.stderr != "Warning: Deployment web: unknown field \"spec.foo\"\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	reqs := applyRequests(srv)
	if len(reqs) != 1 || len(srv.Requests()) != 1 {
		t.Fatalf("apply made %d requests, want exactly one", len(srv.Requests()))
	}
	if reqs[0].Query.Get("namespace") != "default" || reqs[0].Query.Get("strict") != "false" {
		t.Fatalf("apply query %v", reqs[0].Query)
	}
	if srv.Object(api.KindDeployment, "default", "web") == nil {
		t.Fatal("the deployment was not stored")
	}

	r = shoal(t, srv, "", "apply", "-f", file)
	expectOK(t, r)
	if want := "configmap/conf unchanged\ndeployment.apps/web unchanged\n"; r.stdout != want {
		t.Fatalf("second apply: %q", r.stdout)
	}
}

func TestApplyStrictFails(t *testing.T) {
	srv := clienttest.NewServer(t)
	file := writeFile(t, t.TempDir(), "web.yaml", manifest)
	r := shoal(t, srv, "", "-n", "team", "apply", "--strict", "-f", file)
	if r.code != 1 {
		t.Fatalf("exit status %d", r.code)
	}
	if r.stderr != "Error from server (BadRequest): document 2 of 2: Deployment \"web\": strict decoding error: unknown field \"spec.foo\"; "+
		"remove them or apply without --strict\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if srv.Object(api.KindConfigMap, "team", "conf") != nil {
		t.Fatal("nothing may be stored when a document is invalid")
	}
	if q := applyRequests(srv)[0].Query; q.Get("strict") != "true" || q.Get("namespace") != "team" {
		t.Fatalf("query %v", q)
	}
}

func TestApplyDirectoryInNameOrder(t *testing.T) {
	srv := clienttest.NewServer(t)
	dir := t.TempDir()
	writeFile(t, dir, "b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
	writeFile(t, dir, "a.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`)
	writeFile(t, dir, "notes.txt", "not a manifest")
	r := shoal(t, srv, "", "apply", "-f", dir)
	expectOK(t, r)
	if r.stdout != "configmap/a created\nconfigmap/b created\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if n := len(applyRequests(srv)); n != 1 {
		t.Fatalf("%d apply requests", n)
	}
}

func TestApplyStdinAndErrors(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n", "apply", "-f", "-")
	expectOK(t, r)
	if r.stdout != "namespace/team created\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = shoal(t, srv, "# only a comment\n", "apply", "-f", "-")
	if r.code != 1 || r.stderr != "error: no objects passed to apply\n" {
		t.Fatalf("empty input: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "apply", "-f", "/does/not/exist.yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("missing file: %d %q", r.code, r.stderr)
	}
	bad := writeFile(t, t.TempDir(), "bad.yaml", "kind: [unclosed\n")
	r = shoal(t, srv, "", "apply", "-f", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.yaml: document 1") {
		t.Fatalf("bad YAML must name the file: %d %q", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "apply"); r.code != 1 || !strings.Contains(r.stderr, "See 'shoal apply -h'") {
		t.Fatalf("apply without -f: %d %q", r.code, r.stderr)
	}
}
