package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/compose"
	"github.com/shoal-dev/shoal/internal/poll"
)

// composePod is a running pod of a service of project shop.
func composePod(name, svc, nodeName string, created time.Duration) *api.Pod {
	p := running(name, "shop", ago(created))
	p.Labels = map[string]string{compose.LabelProject: "shop", compose.LabelService: svc}
	p.Spec.NodeName = nodeName
	return p
}

func TestComposeExecRunsInTheServicesPod(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), shopCompose)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	srv.Add(composePod("web-b", "web", "n1", time.Hour), composePod("web-a", "web", "n2", 2*time.Hour), composePod("db-1", "db", "n1", time.Hour))
	var seen []clienttest.ExecRequest
	srv.Exec = func(_ context.Context, r clienttest.ExecRequest) (int, error) {
		seen = append(seen, r)
		fmt.Fprintf(r.Stdout, "ran in %s", r.Pod)
		if r.Command[0] == "false" {
			return 3, nil
		}
		return 0, nil
	}
	r := shoal(t, srv, "", "compose", "-p", "shop", "exec", "web", "cat", "-n", "/etc/hostname")
	expectOK(t, r)
	if r.stdout != "ran in web-a" || strings.Join(seen[0].Command, " ") != "cat -n /etc/hostname" || seen[0].TTY {
		t.Errorf("exec: %q %+v (want the oldest pod, the command with its flags, no terminal)", r.stdout, seen[0])
	}
	r = shoal(t, srv, "", "compose", "-p", "shop", "exec", "--index", "2", "web", "false")
	if r.code != 3 || r.stdout != "ran in web-b" {
		t.Errorf("--index 2: %d %q", r.code, r.stdout)
	}
	for _, tc := range []struct{ args, want string }{
		{"--index 3 web true", `service "web" has 2 running pods; --index 3 is none of them`},
		{"cache true", `service "cache" has no running pod in project shop`},
		{"--index 0 web true", "--index 0: give 1 for the first pod"},
	} {
		r := shoal(t, srv, "", append([]string{"compose", "-p", "shop", "exec"}, strings.Fields(tc.args)...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("exec %s: %d %s, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestComposeRestartRollsTheServicesOut(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), shopCompose)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	gen := generation(t, srv, api.KindDeployment, "web")
	dbGen := generation(t, srv, api.KindDeployment, "db")
	r := shoal(t, srv, "", "compose", "-p", "shop", "restart", "-d", "web", "migrate")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "deployment.apps/web restarted") || !strings.Contains(r.stdout, "migrate: a one-shot service; not restarted") {
		t.Errorf("restart:\n%s", r.stdout)
	}
	web := srv.Object(api.KindDeployment, "shop", "web").(*api.Deployment)
	if web.Generation != gen+1 || web.Spec.Template.Annotations[annotationRestartedAt] != fixedNow.UTC().Format(time.RFC3339) {
		t.Errorf("web: generation %d -> %d, template annotations %v", gen, web.Generation, web.Spec.Template.Annotations)
	}
	if g := generation(t, srv, api.KindDeployment, "db"); g != dbGen {
		t.Errorf("db was restarted too")
	}
	// up of the same file keeps the restart (no second rollout).
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if strings.Contains(r.stdout, "deployment.apps/web configured") {
		t.Errorf("up after restart rolled web out again:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "compose", "-p", "shop", "restart", "-d", "nosuch", "web")
	if r.code == 0 || !strings.Contains(r.stderr, `project shop has no service "nosuch"`) {
		t.Errorf("restart of an unknown service: %d %s", r.code, r.stderr)
	}
	if g := generation(t, srv, api.KindDeployment, "web"); g != gen+1 {
		t.Errorf("a refused restart changed web")
	}
}

func TestComposeEventsShowsTheProjectsEvents(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), shopCompose)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	ev := func(name, obj, reason, msg string, at time.Duration) *api.Event {
		return &api.Event{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "shop"},
			InvolvedObject: api.ObjectReference{Kind: "Pod", Name: obj, Namespace: "shop"}, Reason: reason, Message: msg, Type: "Normal",
			Source: api.EventSource{Component: "kubelet", Host: "n1"}, LastTimestamp: ago(at), Count: 1}
	}
	srv.Add(ev("e2", "web-5d8f7-x2k4q", "Started", "Started container web", time.Minute),
		ev("e1", "db-7c9-abcde", "Pulled", "image is there", 2*time.Minute),
		ev("e3", "webhook-1", "Started", "not web's", 30*time.Second))

	r := shoal(t, srv, "", "compose", "-p", "shop", "events", "--follow=false")
	expectOK(t, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "pod/db-7c9-abcde Pulled: image is there (kubelet on n1)") {
		t.Fatalf("events, oldest first:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "compose", "-p", "shop", "events", "--follow=false", "--json", "web")
	expectOK(t, r)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	var got composeEvent
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got.Service != "web" || got.Object != "web-5d8f7-x2k4q" || got.Reason != "Started" {
		t.Fatalf("events --json web:\n%s", r.stdout)
	}

	// Following: a new event is printed as it comes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "compose", "-p", "shop", "events", "db") }()
	poll.Cond(t, 5*time.Second, "the recorded events", func() bool { return strings.Contains(out.String(), "Pulled") })
	srv.Add(ev("e4", "db-7c9-abcde", "Killing", "Stopping container db", 0))
	poll.Cond(t, 5*time.Second, "the new event", func() bool { return strings.Contains(out.String(), "Killing") })
	cancel()
	<-done
	if !strings.Contains(out.String(), "pod/db-7c9-abcde Killing: Stopping container db") || strings.Contains(out.String(), "web") {
		t.Errorf("followed events of db:\n%s", out.String())
	}
}

func TestComposeImagesListsWhatThePodsRun(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), shopCompose)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	withImage := func(p *api.Pod, image, id string) *api.Pod {
		p.Spec.Containers[0].Image = image
		p.Status.ContainerStatuses[0].Image, p.Status.ContainerStatuses[0].ImageID = image, id
		return p
	}
	srv.Add(withImage(composePod("web-1", "web", "n1", time.Hour), "img:web1", "sha256:aaaaaaaaaaaa1111"),
		withImage(composePod("web-2", "web", "n2", time.Hour), "img:web1", "sha256:aaaaaaaaaaaa1111"),
		withImage(composePod("db-1", "db", "n2", time.Hour), "img:db", "sha256:bbbbbbbbbbbb2222"))
	// What the nodes report their engines hold: h1 has web's image and
	// cache's (by name), h2 only web's.
	h1 := node("h1", "10.0.0.1", api.ConditionTrue, "2", "4Gi", time.Hour)
	h1.Status.Images = []api.ContainerImage{{Names: []string{"img:web1"}}, {Names: []string{"img:cache"}}}
	h2 := node("h2", "10.0.0.2", api.ConditionTrue, "2", "4Gi", time.Hour)
	h2.Status.Images = []api.ContainerImage{{Names: []string{"img:web1"}}}
	srv.Add(h1, h2)
	r := shoal(t, srv, "", "compose", "-p", "shop", "images")
	expectOK(t, r)
	want := []string{
		"SERVICE   IMAGE         IMAGE ID       HOSTS            HELD BY",
		"cache     img:cache     <none>         <none running>   h1",
		"db        img:db        bbbbbbbbbbbb   n2               <none>",
		"migrate   img:migrate   <none>         <none running>   <none>",
		"web       img:web1      aaaaaaaaaaaa   n1,n2            h1,h2",
	}
	if got := trimAll(strings.Split(strings.TrimSpace(r.stdout), "\n")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("images:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}
	if r := shoal(t, srv, "", "compose", "-p", "shop", "images", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, `no such service in project shop: "nosuch"`) {
		t.Errorf("images of an unknown service: %d %s", r.code, r.stderr)
	}
}

func TestComposeTopShowsEachPodsProcesses(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), shopCompose)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	srv.Add(composePod("web-1", "web", "n1", time.Hour), composePod("db-1", "db", "n2", time.Hour))
	titles := []string{"UID", "PID", "CMD"}
	srv.SetTop("shop", "web-1", titles, []string{"root", "101", "/app serve --port 8080"})
	srv.SetTop("shop", "db-1", titles, []string{"root", "202", "/app serve --port 5432"}, []string{"root", "203", "sleep 1"})
	r := shoal(t, srv, "", "compose", "-p", "shop", "top")
	expectOK(t, r)
	want := "db-1 (db on n2)\nUID    PID   CMD\nroot   202   /app serve --port 5432\nroot   203   sleep 1\n\n" +
		"web-1 (web on n1)\nUID    PID   CMD\nroot   101   /app serve --port 8080\n"
	if got := strings.Join(trimAll(strings.Split(r.stdout, "\n")), "\n"); got != want {
		t.Fatalf("top:\n%s\nwant:\n%s", r.stdout, want)
	}
	// A viewer of the namespace may list processes, as it may read logs.
	viewer := srv.UserToken("viewer", "shop", "view")
	poll.Cond(t, 5*time.Second, "the viewer's top", func() bool {
		r = shoal(t, srv, "", "--token", viewer, "compose", "-p", "shop", "top", "web")
		return r.code == 0
	})
	if !strings.Contains(r.stdout, "/app serve --port 8080") {
		t.Errorf("viewer's top:\n%s", r.stdout)
	}
}
