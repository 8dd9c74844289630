package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func podLabels(srv *clienttest.Server, name string) map[string]string {
	return srv.Object(api.KindPod, "default", name).GetObjectMeta().Labels
}

func TestLabel(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)), running("web-2", "default", ago(time.Hour)))

	r := shoal(t, srv, "", "label", "pods", "web-1", "tier=front")
	expectOK(t, r)
	if r.stdout != "pod/web-1 labeled\n" || podLabels(srv, "web-1")["tier"] != "front" {
		t.Fatalf("stdout %q, labels %v", r.stdout, podLabels(srv, "web-1"))
	}
	// The same value again changes nothing.
	r = shoal(t, srv, "", "label", "pod/web-1", "tier=front")
	expectOK(t, r)
	if r.stdout != "pod/web-1 not labeled\n" {
		t.Fatalf("unchanged: stdout %q", r.stdout)
	}
	// A new value needs --overwrite; the refusal changes nothing.
	r = shoal(t, srv, "", "label", "pod/web-1", "tier=back")
	if r.code != 1 || !strings.Contains(r.stderr, `"tier" already has a value (front), and --overwrite is false: add --overwrite`) {
		t.Fatalf("no --overwrite: %d %q", r.code, r.stderr)
	}
	if podLabels(srv, "web-1")["tier"] != "front" {
		t.Fatalf("a refused label changed the pod: %v", podLabels(srv, "web-1"))
	}
	expectOK(t, shoal(t, srv, "", "label", "pod/web-1", "tier=back", "--overwrite"))
	if podLabels(srv, "web-1")["tier"] != "back" {
		t.Fatalf("--overwrite: %v", podLabels(srv, "web-1"))
	}
	// -l selects, KEY- removes.
	r = shoal(t, srv, "", "label", "pods", "-l", "app=web", "canary=yes")
	expectOK(t, r)
	if r.stdout != "pod/web-1 labeled\npod/web-2 labeled\n" {
		t.Fatalf("-l: stdout %q", r.stdout)
	}
	expectOK(t, shoal(t, srv, "", "label", "pods", "--all", "canary-"))
	for _, p := range []string{"web-1", "web-2"} {
		if _, ok := podLabels(srv, p)["canary"]; ok {
			t.Fatalf("%s kept the removed label: %v", p, podLabels(srv, p))
		}
	}
	r = shoal(t, srv, "", "label", "pod", "web-1", "--list")
	expectOK(t, r)
	if r.stdout != "app=web\ntier=back\n" {
		t.Fatalf("--list: %q", r.stdout)
	}
}

func TestLabelRefusals(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)))
	before := srv.Object(api.KindPod, "default", "web-1").GetObjectMeta().ResourceVersion
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"label", "pod/web-1"}, "at least one label update is required: add KEY=VALUE or KEY-"},
		{[]string{"label", "pod/web-1", "bad key=x"}, `invalid label key "bad key"`},
		{[]string{"label", "pod/web-1", "k=not a value"}, `invalid value "not a value" of label key "k"`},
		{[]string{"label", "pod/web-1", "k=1", "k-"}, `can not both modify and remove the label key "k"`},
		{[]string{"label", "pods", "k=1"}, "name the pods to label (such as pod/NAME), or choose them with --selector or --all"},
		{[]string{"label", "pods", "web-1", "--all", "k=1"}, "not both"},
		{[]string{"label", "pod/web-1", "k=1", "--list"}, "--list only prints the labels"},
		{[]string{"label", "widgets/x", "k=1"}, `the server doesn't have a resource type "widgets"`},
		{[]string{"label", "pods", "-l", "a in", "k=1"}, "--selector"},
	} {
		r := shoal(t, srv, "", c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
	// Two objects, one refused: neither changes.
	srv.Add(running("web-2", "default", ago(time.Hour)))
	expectOK(t, shoal(t, srv, "", "label", "pod/web-2", "tier=b"))
	if r := shoal(t, srv, "", "label", "pods", "web-1", "web-2", "tier=a"); r.code != 1 {
		t.Fatalf("a conflict on one pod: exit %d", r.code)
	}
	if after := srv.Object(api.KindPod, "default", "web-1").GetObjectMeta().ResourceVersion; after != before {
		t.Fatalf("a refused command changed web-1 (resourceVersion %s -> %s)", before, after)
	}
}

func TestAnnotate(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	r := shoal(t, srv, "", "annotate", "deploy/web", "description=the web front, v2", "owner=team-a")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web annotated\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	a := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().Annotations
	if a["description"] != "the web front, v2" || a["owner"] != "team-a" {
		t.Fatalf("annotations %v", a)
	}
	if r := shoal(t, srv, "", "annotate", "deploy/web", "owner=team-b"); r.code != 1 || !strings.Contains(r.stderr, "--overwrite is false") {
		t.Fatalf("no --overwrite: %d %q", r.code, r.stderr)
	}
	expectOK(t, shoal(t, srv, "", "annotate", "deploy", "web", "owner-"))
	r = shoal(t, srv, "", "annotate", "deploy/web", "--list")
	expectOK(t, r)
	if r.stdout != "description=the web front, v2\n" {
		t.Fatalf("--list: %q", r.stdout)
	}
}
