package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func writes(srv *clienttest.Server) []clienttest.Request {
	var out []clienttest.Request
	for _, q := range srv.Requests() {
		if q.Method != "GET" {
			out = append(out, q)
		}
	}
	return out
}

func TestSetImage(t *testing.T) {
	srv := clienttest.NewServer(t)
	d := deployment("web", 2, 2, 2, 2, ago(time.Hour))
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, api.Container{Name: "sidecar", Image: "envoy:1.30"})
	srv.Add(d)
	r := shoal(t, srv, "", "set", "image", "deploy/web", "web=nginx:1.28", "sidecar=envoy:1.31")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web image updated\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	w := writes(srv)
	if len(w) != 1 || w[0].Method != "PUT" || w[0].Path != "/apis/apps/v1/namespaces/default/deployments/web" {
		t.Fatalf("writes %+v", w)
	}
	var sent api.Deployment
	if err := json.Unmarshal(w[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	cs := sent.Spec.Template.Spec.Containers
	if cs[0].Image != "nginx:1.28" || cs[1].Image != "envoy:1.31" || sent.ResourceVersion == "" || *sent.Spec.Replicas != 2 {
		t.Fatalf("sent %+v rv %q", cs, sent.ResourceVersion)
	}

	// The same images again: nothing to write, nothing to say (as kubectl).
	r = shoal(t, srv, "", "set", "image", "deployment", "web", "web=nginx:1.28")
	expectOK(t, r)
	if r.stdout != "" || len(writes(srv)) != 1 {
		t.Fatalf("unchanged: stdout %q, %d writes", r.stdout, len(writes(srv)))
	}

	r = shoal(t, srv, "", "set", "image", "deploy/web", "app=nginx:2")
	if r.code != 1 || r.stderr != "error: unable to find container named \"app\" in deployment.apps/web (its containers: web, sidecar)\n" {
		t.Fatalf("unknown container: %d %q", r.code, r.stderr)
	}
	if len(writes(srv)) != 1 {
		t.Fatal("an unknown container must change nothing")
	}
}

func TestSetImageEveryContainerOfADaemonSet(t *testing.T) {
	srv := clienttest.NewServer(t)
	ds := daemonSet("agent", 3, 3, 3, ago(time.Hour))
	ds.Spec.Template.Spec.InitContainers = []api.Container{{Name: "setup", Image: "busybox:1.36"}}
	ds.Spec.Template.Spec.Containers = append(ds.Spec.Template.Spec.Containers, api.Container{Name: "exporter", Image: "exporter:1"})
	srv.Add(ds)
	r := shoal(t, srv, "", "set", "image", "ds/agent", "*=shoal/agent:2")
	expectOK(t, r)
	if r.stdout != "daemonset.apps/agent image updated\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	got := srv.Object(api.KindDaemonSet, "default", "agent").(*api.DaemonSet).Spec.Template.Spec
	for _, c := range append(got.InitContainers, got.Containers...) {
		if c.Image != "shoal/agent:2" {
			t.Errorf("container %s has image %s", c.Name, c.Image)
		}
	}
}

func TestSetImageRefusals(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "set", "image", "job/migrate", "migrate=tool:2")
	if r.code != 1 || r.stderr != "error: cannot set the image of a job: the pod template of a Job cannot change once it is created; delete the job and create it again with the new image\n" {
		t.Fatalf("job: %d %q", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy/web"}, "at least one image update is required"},
		{[]string{"web=nginx"}, "name the objects to change"},
		{[]string{"deploy/web", "=nginx"}, "an image update is CONTAINER=IMAGE"},
		{[]string{"pod/web-1", "web=nginx"}, "does not support pods"},
	} {
		r := shoal(t, srv, "", append([]string{"set", "image"}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %d %q", tc.args, r.code, r.stderr)
		}
	}
	if len(srv.Requests()) != 0 {
		t.Fatal("refused commands must not reach the server")
	}
	r = shoal(t, srv, "", "set", "image", "deploy/nope", "web=nginx")
	if r.code != 1 || r.stderr != "Error from server (NotFound): deployments \"nope\" not found\n" {
		t.Fatalf("missing: %d %q", r.code, r.stderr)
	}
}
