package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func labelled(name, app string) *api.Pod {
	p := running(name, "default", ago(time.Minute))
	p.Labels = map[string]string{"app": app}
	return p
}

func TestDeleteBySelector(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(labelled("a", "web"), labelled("b", "web"), labelled("c", "db"))
	r := shoal(t, srv, "", "delete", "pods", "-l", "app=web")
	expectOK(t, r)
	if r.stdout != "pod \"a\" deleted\npod \"b\" deleted\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	// Pods bound to no node go at once; the request must carry the selector
	// and leave the other pod alone.
	var del clienttest.Request
	for _, q := range srv.Requests() {
		if q.Method == "DELETE" {
			del = q
		}
	}
	if del.Path != "/api/v1/namespaces/default/pods" || del.Query.Get("labelSelector") != "app=web" {
		t.Fatalf("delete sent %s ?%v", del.Path, del.Query)
	}
	if srv.Object(api.KindPod, "default", "a") != nil || srv.Object(api.KindPod, "default", "c") == nil {
		t.Fatal("wrong pods deleted")
	}
}

func TestDeleteByNameWaitsForTermination(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.PodTermination = 400 * time.Millisecond
	bound := func(p *api.Pod) *api.Pod { p.Spec.NodeName = "h1"; return p }
	srv.Add(bound(labelled("a", "web")))
	start := time.Now()
	r := shoal(t, srv, "", "delete", "pod", "a")
	expectOK(t, r)
	if r.stdout != "pod \"a\" deleted\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if time.Since(start) < 400*time.Millisecond || srv.Object(api.KindPod, "default", "a") != nil {
		t.Fatal("delete returned before the pod was gone")
	}

	srv.Add(bound(labelled("b", "web")))
	r = shoal(t, srv, "", "delete", "pod/b", "--wait=false")
	expectOK(t, r)
	if p := srv.Object(api.KindPod, "default", "b"); p == nil || p.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatal("--wait=false must return while the pod is still Terminating")
	}
}

func TestDeleteGracePeriod(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(labelled("a", "web"), labelled("b", "web"))
	expectOK(t, shoal(t, srv, "", "delete", "pod", "a", "--grace-period", "0"))
	expectOK(t, shoal(t, srv, "", "delete", "pod", "b", "--now"))
	var got []string
	for _, q := range srv.Requests() {
		if q.Method == "DELETE" {
			got = append(got, q.Query.Get("gracePeriodSeconds"))
		}
	}
	if strings.Join(got, ",") != "0,1" {
		t.Fatalf("grace periods sent: %v", got)
	}
}

func TestDeleteMissingAndFromFile(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	r := shoal(t, srv, "", "delete", "pod", "nope")
	if r.code != 1 || r.stderr != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "delete", "pod", "nope", "--ignore-not-found"); r.code != 0 {
		t.Fatalf("--ignore-not-found: code %d", r.code)
	}
	file := writeFile(t, t.TempDir(), "web.yaml", manifest)
	r = shoal(t, srv, "", "delete", "-f", file)
	if r.code != 1 {
		t.Fatalf("the configmap of the file does not exist: code %d", r.code)
	}
	if !strings.Contains(r.stdout, "deployment.apps \"web\" deleted") ||
		!strings.Contains(r.stderr, "Error from server (NotFound): configmaps \"conf\" not found") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if r := shoal(t, srv, "", "delete", "pods"); r.code != 1 || !strings.Contains(r.stderr, "no name was specified") {
		t.Fatalf("delete without a name: %d %q", r.code, r.stderr)
	}
}
