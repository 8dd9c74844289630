package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func TestCreateAndDeleteNamespace(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "create", "namespace", "team")
	expectOK(t, r)
	if r.stdout != "namespace/team created\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if q := srv.Requests()[0]; q.Method != "POST" || q.Path != "/api/v1/namespaces" {
		t.Fatalf("sent %s %s", q.Method, q.Path)
	}
	if srv.Object(api.KindNamespace, "", "team") == nil {
		t.Fatal("not stored")
	}
	r = shoal(t, srv, "", "create", "ns", "team")
	if r.code != 1 || r.stderr != "Error from server (AlreadyExists): namespaces \"team\" already exists\n" {
		t.Fatalf("twice: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "get", "ns")
	expectOK(t, r)
	if !regexp.MustCompile(`^NAME +STATUS   AGE\ndefault +Active   .*\nshoal-system +Active   .*\nteam +Active   .*\n$`).MatchString(r.stdout) {
		t.Fatalf("get ns:\n%s", r.stdout)
	}

	r = shoal(t, srv, "", "-n", "elsewhere", "delete", "namespace", "team")
	expectOK(t, r)
	if r.stdout != "namespace \"team\" deleted\n" || srv.Object(api.KindNamespace, "", "team") != nil {
		t.Fatalf("delete: %q", r.stdout)
	}
	var del clienttest.Request
	for _, q := range srv.Requests() {
		if q.Method == "DELETE" {
			del = q
		}
	}
	if del.Path != "/api/v1/namespaces/team" {
		t.Fatalf("deleted %s", del.Path)
	}
	r = shoal(t, srv, "", "delete", "ns/team")
	if r.code != 1 || r.stderr != "Error from server (NotFound): namespaces \"team\" not found\n" {
		t.Fatalf("delete twice: %d %q", r.code, r.stderr)
	}
}

func TestCreateNamespaceDryRunAndErrors(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "create", "namespace", "team", "--dry-run=client", "-o", "yaml")
	expectOK(t, r)
	if r.stdout != "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n" {
		t.Fatalf("dry run:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "create", "namespace", "team", "--dry-run")
	expectOK(t, r)
	if r.stdout != "namespace/team created (dry run)\n" || len(srv.Requests()) != 0 {
		t.Fatalf("dry run: %q, %d requests", r.stdout, len(srv.Requests()))
	}
	for _, args := range [][]string{
		{"create", "namespace"},
		{"create", "namespace", "a", "b"},
		{"create", "namespace", "a", "-o", "wide"},
	} {
		if r := shoal(t, srv, "", args...); r.code != 1 || !strings.Contains(r.stderr, "See 'shoal create namespace -h'") {
			t.Errorf("%v: %d %q", args, r.code, r.stderr)
		}
	}
	r = shoal(t, srv, "", "create", "namespace", "Not_Valid")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error from server (Invalid): ") {
		t.Fatalf("invalid name: %d %q", r.code, r.stderr)
	}
}
