package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/compose"
	"github.com/shoal-dev/shoal/internal/poll"
)

const shopCompose = `
name: shop
services:
  db:
    image: img:db
    healthcheck:
      test: ["CMD", "/check"]
  migrate:
    image: img:migrate
    restart: "no"
  web:
    image: img:web1
    scale: 2
    ports: ["30080:8080"]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  cache:
    image: img:cache
`

func writeCompose(t *testing.T, dir, content string) string {
	t.Helper()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func generation(t *testing.T, srv *clienttest.Server, k *api.Kind, name string) int64 {
	t.Helper()
	o := srv.Object(k, "shop", name)
	if o == nil {
		t.Fatalf("no %s %s", k.Kind, name)
	}
	return o.GetObjectMeta().Generation
}

// up applies the project; a second up of the same file rewrites nothing,
// an edited service is the only one changed, and a service removed from
// the file is removed from the cluster.
func TestComposeUpChangesOnlyWhatChanged(t *testing.T) {
	srv := clienttest.NewServer(t)
	dir := t.TempDir()
	f := writeCompose(t, dir, shopCompose)
	r := shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	for _, want := range []string{"namespace/shop created", "deployment.apps/web created", "job.batch/migrate created", "service/web-published created"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("up lacks %q:\n%s", want, r.stdout)
		}
	}
	web := srv.Object(api.KindDeployment, "shop", "web").(*api.Deployment)
	if g := web.Spec.Template.Spec.SchedulingGates; len(g) != 1 || g[0].Name != compose.GateDependsOn {
		t.Fatalf("web's pods are not gated: %v", g)
	}
	gens := map[string]int64{"db": generation(t, srv, api.KindDeployment, "db"), "web": generation(t, srv, api.KindDeployment, "web")}

	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if strings.Contains(r.stdout, "created") || strings.Contains(r.stdout, "configured") {
		t.Fatalf("up of the same file changed something:\n%s", r.stdout)
	}

	edited := strings.Replace(shopCompose, "img:web1", "img:web2", 1)
	edited = strings.Replace(edited, "  cache:\n    image: img:cache\n", "", 1)
	writeCompose(t, dir, edited)
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "deployment.apps/web configured") || strings.Count(r.stdout, "configured") != 1 {
		t.Fatalf("edited web: want only web configured:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "deployment.apps/cache deleted (no longer in the project)") || srv.Object(api.KindDeployment, "shop", "cache") != nil {
		t.Fatalf("cache removed from the file is still there:\n%s", r.stdout)
	}
	if g := generation(t, srv, api.KindDeployment, "db"); g != gens["db"] {
		t.Errorf("db generation %d -> %d: an unchanged service was rewritten", gens["db"], g)
	}
	if g := generation(t, srv, api.KindDeployment, "web"); g != gens["web"]+1 {
		t.Errorf("web generation %d -> %d, want one more", gens["web"], g)
	}

	// A namespace compose did not make is not taken over.
	srv.Add(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "other"}})
	r = shoal(t, srv, "", "compose", "-f", f, "-p", "other", "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `namespace "other" exists and is not compose project`) {
		t.Fatalf("up into a foreign namespace: %d %s", r.code, r.stderr)
	}
}

// `up SERVICE` starts the service and its dependencies only, and removes
// nothing.
func TestComposeUpServiceTakesItsDependencies(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), shopCompose)
	r := shoal(t, srv, "", "compose", "-f", f, "up", "-d", "web")
	expectOK(t, r)
	for name, want := range map[string]bool{"web": true, "db": true, "cache": false} {
		if got := srv.Object(api.KindDeployment, "shop", name) != nil; got != want {
			t.Errorf("deployment %s exists: %v, want %v", name, got, want)
		}
	}
	if srv.Object(api.KindJob, "shop", "migrate") == nil {
		t.Error("web's dependency migrate was not created")
	}
	r = shoal(t, srv, "", "compose", "up", "-f", f)
	if r.code == 0 || !strings.Contains(r.stderr, "go before the verb: shoal compose -f FILE up") {
		t.Fatalf("-f after the verb: %d %s", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d", "nosuch")
	if r.code == 0 || !strings.Contains(r.stderr, `no such service: "nosuch"`) {
		t.Fatalf("unknown service: %d %s", r.code, r.stderr)
	}
}

// Without -d, up prints each service's state as a plain line when it
// changes (not a terminal) and returns once every service is ready or
// completed; a failed one-shot service fails it.
func TestComposeUpFollowsServices(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), strings.Replace(shopCompose, "  cache:\n    image: img:cache\n", "", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "compose", "-f", f, "up") }()
	poll.True(t, 10*time.Second, "objects applied and web waiting", func() (bool, string) {
		return srv.Object(api.KindDeployment, "shop", "web") != nil, out.String()
	})
	// web's pod, as the ReplicaSet controller makes it: gated.
	srv.Add(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "shop",
		Labels: map[string]string{compose.LabelProject: "shop", compose.LabelService: "web"}},
		Spec: api.PodSpec{SchedulingGates: []api.PodSchedulingGate{{Name: compose.GateDependsOn}},
			Containers: []api.Container{{Name: "web", Image: "img:web1"}}}})
	poll.True(t, 10*time.Second, "web waiting for its dependencies", func() (bool, string) {
		return strings.Contains(out.String(), "web: waiting for db, migrate"), out.String()
	})
	srv.Update(api.KindJob, "shop", "migrate", func(o api.Object) {
		j := o.(*api.Job)
		j.Status.Succeeded = 1
		j.Status.Conditions = []api.Condition{{Type: api.JobComplete, Status: api.ConditionTrue}}
	})
	for _, name := range []string{"db", "web"} {
		srv.Update(api.KindDeployment, "shop", name, func(o api.Object) {
			d := o.(*api.Deployment)
			n := *d.Spec.Replicas
			d.Status = api.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
		})
	}
	// Ready is not yet resolvable: up waits for the Endpoints the
	// cluster DNS answers from.
	poll.True(t, 10*time.Second, "web waiting to be resolvable", func() (bool, string) {
		return strings.Contains(out.String(), "web: running, 2/2 ready; 0/2 resolvable as web"), out.String()
	})
	select {
	case code := <-done:
		t.Fatalf("up returned (exit %d) before its names resolved:\n%s", code, out.String())
	case <-time.After(time.Second):
	}
	addresses := func(ips ...string) []api.EndpointSubset {
		var s api.EndpointSubset
		for _, ip := range ips {
			s.Addresses = append(s.Addresses, api.EndpointAddress{IP: ip})
		}
		return []api.EndpointSubset{s}
	}
	srv.Add(&api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "shop"}, Subsets: addresses("10.244.0.2")})
	srv.Add(&api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "shop"}, Subsets: addresses("10.244.0.3", "10.244.0.4")})
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up: exit %d: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("up did not return once every service was ready:\n%s", out.String())
	}
	for _, want := range []string{"migrate: completed", "db: running, 1/1 ready", "web: running, 2/2 ready"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("up's progress lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("terminal escapes written to a pipe:\n%q", out.String())
	}

	// The migration is edited and fails: up runs it again and fails.
	writeCompose(t, filepath.Dir(f), strings.Replace(strings.Replace(shopCompose, "  cache:\n    image: img:cache\n", "", 1), "img:migrate", "img:migrate2", 1))
	out, errOut = syncBuffer{}, syncBuffer{}
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "compose", "-f", f, "up", "migrate") }()
	poll.True(t, 10*time.Second, "migrate created again", func() (bool, string) {
		j, ok := srv.Object(api.KindJob, "shop", "migrate").(*api.Job)
		return ok && j.Spec.Template.Spec.Containers[0].Image == "img:migrate2" && len(j.Status.Conditions) == 0, out.String()
	})
	srv.Update(api.KindJob, "shop", "migrate", func(o api.Object) {
		o.(*api.Job).Status.Conditions = []api.Condition{{Type: api.JobFailed, Status: api.ConditionTrue, Message: "Job has reached the specified backoff limit"}}
	})
	select {
	case code := <-done:
		if code == 0 || !strings.Contains(errOut.String(), "service [migrate (failed: Job has reached the specified backoff limit)] failed") {
			t.Fatalf("up of a failing one-shot service: exit %d: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("up did not return after the job failed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "job.batch/migrate started again (its definition changed)") {
		t.Errorf("edited job not run again:\n%s", out.String())
	}
}

func TestComposePsAndDown(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.PodTermination = 300 * time.Millisecond
	f := writeCompose(t, t.TempDir(), shopCompose)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	srv.Update(api.KindDeployment, "shop", "db", func(o api.Object) {
		d := o.(*api.Deployment)
		d.Status = api.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}
	})
	srv.Update(api.KindJob, "shop", "migrate", func(o api.Object) {
		j := o.(*api.Job)
		j.Status.Succeeded = 1
		j.Status.Conditions = []api.Condition{{Type: api.JobComplete, Status: api.ConditionTrue}}
	})
	pod := func(name, svc string, gated bool) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "shop",
			Labels: map[string]string{compose.LabelProject: "shop", compose.LabelService: svc}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: svc, Image: "img:" + svc}}}}
		if gated {
			p.Spec.SchedulingGates = []api.PodSchedulingGate{{Name: compose.GateDependsOn}}
		} else {
			p.Spec.NodeName = "n1"
			p.Status = api.PodStatus{Phase: api.PodRunning, ContainerStatuses: []api.ContainerStatus{{Name: svc, Ready: true,
				State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}}
		}
		return p
	}
	srv.Add(pod("db-1", "db", false), pod("web-1", "web", true), pod("web-2", "web", true))
	srv.Add(&api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "shop"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "10.244.0.2"}}}}})
	srv.SetLogs("shop", "db-1", "db", "ready to accept connections\nlistening\n")

	r := shoal(t, srv, "", "compose", "-f", f, "ps")
	expectOK(t, r)
	want := []string{
		"SERVICE   KIND         IMAGE         REPLICAS   STATE                     PORTS",
		"cache     Deployment   img:cache     0/1        starting, 0/1 ready",
		"db        Deployment   img:db        1/1        running, 1/1 ready",
		"migrate   Job          img:migrate   1/1        completed",
		"web       Deployment   img:web1      0/2        waiting for db, migrate   *:30080->8080/tcp",
	}
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); strings.Join(trimAll(got), "\n") != strings.Join(want, "\n") {
		t.Fatalf("ps:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}

	r = shoal(t, srv, "", "compose", "-p", "shop", "logs", "db")
	expectOK(t, r)
	if r.stdout != "db-1 | ready to accept connections\ndb-1 | listening\n" {
		t.Fatalf("logs:\n%q", r.stdout)
	}

	r = shoal(t, srv, "", "compose", "-p", "shop", "down")
	expectOK(t, r)
	for _, k := range []*api.Kind{api.KindDeployment, api.KindJob, api.KindPod, api.KindService, api.KindNamespace} {
		ns := "shop"
		if k == api.KindNamespace {
			ns = ""
		}
		objs, _, err := srv.Registry().List(context.Background(), k, ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if k != api.KindNamespace || o.GetObjectMeta().Name == "shop" {
				t.Errorf("down left %s %s", k.Kind, o.GetObjectMeta().Name)
			}
		}
	}
	if !strings.Contains(r.stdout, "namespace/shop deleted") {
		t.Errorf("down:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "compose", "-p", "shop", "down")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "project shop is not on the cluster") {
		t.Errorf("down of an absent project:\n%s", r.stdout)
	}
	srv.Add(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "mine"}})
	if r := shoal(t, srv, "", "compose", "-p", "mine", "down"); r.code == 0 || srv.Object(api.KindNamespace, "", "mine") == nil {
		t.Fatalf("down removed a namespace compose did not make: %d %s", r.code, r.stderr)
	}
}

func trimAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(l, " ")
	}
	return out
}

// depends_on restart: true: a change of the dependency restarts the
// dependent (a new restart stamp on its template), and the next up of the
// same file keeps the stamp instead of rolling the dependent out again.
func TestComposeUpRestartsDependents(t *testing.T) {
	srv := clienttest.NewServer(t)
	project := `
name: shop
services:
  db:
    image: img:db1
  web:
    image: img:web
    depends_on:
      db: {condition: service_started, restart: true}
  worker:
    image: img:worker
    depends_on:
      db: {condition: service_started}
`
	dir := t.TempDir()
	f := writeCompose(t, dir, project)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	webGen := generation(t, srv, api.KindDeployment, "web")
	workerGen := generation(t, srv, api.KindDeployment, "worker")

	writeCompose(t, dir, strings.Replace(project, "img:db1", "img:db2", 1))
	r := shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "deployment.apps/web restarted (its dependency db changed)") || strings.Contains(r.stdout, "worker restarted") {
		t.Fatalf("up after db changed:\n%s", r.stdout)
	}
	web := srv.Object(api.KindDeployment, "shop", "web").(*api.Deployment)
	if web.Spec.Template.Annotations[annotationRestartedAt] == "" || web.Generation != webGen+1 {
		t.Fatalf("web not restarted: generation %d, template annotations %v", web.Generation, web.Spec.Template.Annotations)
	}
	if g := generation(t, srv, api.KindDeployment, "worker"); g != workerGen {
		t.Errorf("worker (no restart: true) changed: generation %d -> %d", workerGen, g)
	}
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if strings.Contains(r.stdout, "configured") || strings.Contains(r.stdout, "restarted") {
		t.Fatalf("up of the same file again changed something:\n%s", r.stdout)
	}
}

// On a terminal the board redraws one line per service in place, with a
// check mark on the services that are done.
func TestComposeBoardRedrawsInPlace(t *testing.T) {
	var buf syncBuffer
	b := newBoard(&buf, []string{"db", "web"})
	b.tty.tty, b.tty.width = true, 40
	b.set("db", "running, 1/1 ready", true)
	b.set("web", "waiting for db, and a very long reason that does not fit", false)
	b.finish()
	out := buf.String()
	frames := strings.Split(out, "\x1b[2A")
	if len(frames) != 3 || strings.Count(frames[0], "\n") != 2 {
		t.Fatalf("want three drawings of two lines, each over the one before: %q", out)
	}
	last := strings.Split(strings.TrimSuffix(frames[2], "\n"), "\n")
	if len(last) != 2 || !strings.HasPrefix(last[0], "\r✔ db   running, 1/1 ready") || !strings.Contains(last[1], "web  waiting for db") {
		t.Fatalf("second drawing %q", last)
	}
	for _, l := range last {
		if n := len([]rune(strings.TrimSuffix(strings.TrimPrefix(l, "\r"), clearToEOL))); n > 40 {
			t.Errorf("line of %d columns on a 40-column terminal: %q", n, l)
		}
	}
}
