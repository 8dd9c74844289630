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

func replicasOf(srv *clienttest.Server, name string) int32 {
	return *srv.Object(api.KindDeployment, "default", name).(*api.Deployment).Spec.Replicas
}

func TestPatch(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))

	r := shoal(t, srv, "", "patch", "deploy/web", "-p", `{"spec":{"replicas":3}}`)
	expectOK(t, r)
	if r.stdout != "deployment.apps/web patched\n" || replicasOf(srv, "web") != 3 {
		t.Fatalf("strategic: stdout %q, replicas %d", r.stdout, replicasOf(srv, "web"))
	}
	r = shoal(t, srv, "", "patch", "deploy/web", "-p", `{"spec":{"replicas":3}}`)
	expectOK(t, r)
	if r.stdout != "deployment.apps/web patched (no change)\n" {
		t.Fatalf("no change: stdout %q", r.stdout)
	}
	// A merge patch in YAML.
	expectOK(t, shoal(t, srv, "", "patch", "deployment", "web", "--type", "merge", "-p", "metadata: {labels: {tier: front}}"))
	if l := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().Labels; l["tier"] != "front" {
		t.Fatalf("merge: labels %v", l)
	}
	// A JSON patch from a file.
	file := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(file, []byte(`[{"op":"replace","path":"/spec/replicas","value":2}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	expectOK(t, shoal(t, srv, "", "patch", "deploy/web", "--type", "json", "--patch-file", file))
	if replicasOf(srv, "web") != 2 {
		t.Fatalf("json: replicas %d", replicasOf(srv, "web"))
	}
	// The scale subresource, printed as the server answers.
	r = shoal(t, srv, "", "patch", "deploy/web", "--subresource", "scale", "-p", `{"spec":{"replicas":4}}`, "-o", "yaml")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "kind: Scale") || replicasOf(srv, "web") != 4 {
		t.Fatalf("scale: replicas %d, stdout:\n%s", replicasOf(srv, "web"), r.stdout)
	}
	// A server dry run stores nothing.
	r = shoal(t, srv, "", "patch", "deploy/web", "-p", `{"spec":{"replicas":9}}`, "--dry-run=server")
	expectOK(t, r)
	if !strings.HasSuffix(r.stdout, "(server dry run)\n") || replicasOf(srv, "web") != 4 {
		t.Fatalf("dry run: stdout %q, replicas %d", r.stdout, replicasOf(srv, "web"))
	}
}

func TestPatchRefusals(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)), running("web-1", "default", ago(time.Hour)))
	rv := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"patch", "deploy/web"}, "a patch is required: give it with -p PATCH or --patch-file FILE"},
		{[]string{"patch", "deploy/web", "-p", "{}", "--patch-file", "x"}, "not both"},
		{[]string{"patch", "deploy/web", "--type", "xml", "-p", "{}"}, `--type "xml" is not known: use strategic, merge or json`},
		{[]string{"patch", "deploy/web", "--type", "json", "-p", `{"spec":{}}`}, "a json patch is a list of operations"},
		{[]string{"patch", "deploy/web", "-p", `[{"op":"remove","path":"/spec"}]`}, "needs --type json"},
		{[]string{"patch", "deploy/web", "-p", `{"spec": [}`}, "neither JSON nor YAML"},
		{[]string{"patch", "deploy/web", "--subresource", "logs", "-p", "{}"}, `--subresource "logs" is not known: use status or scale`},
		{[]string{"patch", "pod/web-1", "--subresource", "scale", "-p", "{}"}, "pods has no scale subresource"},
		{[]string{"patch", "deploy/web", "-p", `{"spec":{"replicas":"many"}}`}, "replicas"},
		{[]string{"patch", "deploy/nope", "-p", `{"spec":{"replicas":2}}`}, `(NotFound): deployments "nope" not found`},
		{[]string{"patch", "deploy/web", "deploy/api", "-p", "{}"}, "name exactly one object"},
	} {
		r := shoal(t, srv, "", c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if after := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().ResourceVersion; after != rv {
		t.Fatalf("refused patches changed the deployment (resourceVersion %s -> %s)", rv, after)
	}
}
