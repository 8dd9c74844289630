package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func TestRunCreatesADeployment(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(namespace("team"))
	r := shoal(t, srv, "", "-n", "team", "run", "web", "--image", "nginx:1.27", "--replicas", "3", "--port", "80",
		"--env", "A=1", "--env", "B=x=y", "--labels", "tier=front", "--", "--verbose", "-p", "8080")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web created\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	d, ok := srv.Object(api.KindDeployment, "team", "web").(*api.Deployment)
	if !ok {
		t.Fatal("no deployment stored")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if *d.Spec.Replicas != 3 || d.Labels["app"] != "web" || d.Labels["tier"] != "front" ||
		d.Spec.Selector.MatchLabels["app"] != "web" || d.Spec.Template.Labels["app"] != "web" {
		t.Fatalf("deployment %+v", d.ObjectMeta)
	}
	if c.Name != "web" || c.Image != "nginx:1.27" || strings.Join(c.Args, " ") != "--verbose -p 8080" ||
		c.Ports[0].ContainerPort != 80 || len(c.Env) != 2 || c.Env[1].Value != "x=y" {
		t.Fatalf("container %+v", c)
	}
}

func TestRunDryRunAndErrors(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "run", "job", "--image", "busybox", "--command", "--dry-run=client", "-o", "json", "--", "sh", "-c", "date")
	expectOK(t, r)
	var d api.Deployment
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Kind != "Deployment" ||
		strings.Join(d.Spec.Template.Spec.Containers[0].Command, " ") != "sh -c date" {
		t.Fatalf("dry run printed %v\n%s", err, r.stdout)
	}
	if len(srv.Requests()) != 0 {
		t.Fatal("a client dry run must not call the server")
	}
	for _, args := range [][]string{
		{"run", "web"},
		{"run", "--image", "x"},
		{"run", "web", "extra", "--image", "x"},
		{"run", "web", "--image", "x", "--env", "NOEQUALS"},
	} {
		if r := shoal(t, srv, "", args...); r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("%v: code %d stderr %q", args, r.code, r.stderr)
		}
	}
	if r := shoal(t, srv, "", "run", "web", "--image", "x"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = shoal(t, srv, "", "run", "web", "--image", "x")
	if r.code != 1 || r.stderr != "Error from server (AlreadyExists): deployments \"web\" already exists\n" {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

func TestScale(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)), deployment("api", 1, 1, 1, 1, ago(time.Hour)))
	r := shoal(t, srv, "", "scale", "deploy/web", "--replicas", "5")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web scaled\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = shoal(t, srv, "", "scale", "deploy", "web", "api", "--replicas=0")
	expectOK(t, r)
	for name, want := range map[string]int32{"web": 0, "api": 0} {
		if got := *srv.Object(api.KindDeployment, "default", name).(*api.Deployment).Spec.Replicas; got != want {
			t.Errorf("%s: replicas %d, want %d", name, got, want)
		}
	}
	var puts int
	for _, q := range srv.Requests() {
		if q.Method == "PUT" && strings.HasSuffix(q.Path, "/scale") {
			puts++
		}
	}
	if puts != 3 {
		t.Fatalf("%d scale updates, want 3", puts)
	}
	if r := shoal(t, srv, "", "scale", "deploy/web"); r.code != 1 || !strings.Contains(r.stderr, "--replicas is required") {
		t.Fatalf("no --replicas: %d %q", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "scale", "pod/x", "--replicas", "2"); r.code != 1 || !strings.Contains(r.stderr, "cannot scale pods") {
		t.Fatalf("scale a pod: %d %q", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "scale", "rs/nope", "--replicas", "2"); r.stderr != "Error from server (NotFound): replicasets \"nope\" not found\n" {
		t.Fatalf("missing rs: %q", r.stderr)
	}
}

func TestLogs(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)), deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	srv.SetLogs("default", "web-1", "", "a\nb\nc\n")
	srv.SetLogs("default", "web-1", "side", "sidecar\n")
	r := shoal(t, srv, "", "logs", "web-1", "--tail", "2", "--timestamps")
	expectOK(t, r)
	if r.stdout != "b\nc\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	q := srv.Requests()[len(srv.Requests())-1].Query
	if q.Get("tailLines") != "2" || q.Get("timestamps") != "true" || q.Get("follow") != "" {
		t.Fatalf("query %v", q)
	}
	r = shoal(t, srv, "", "logs", "deploy/web", "-c", "side", "-f")
	expectOK(t, r)
	if r.stdout != "sidecar\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if r := shoal(t, srv, "", "logs", "nope"); r.stderr != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if r := shoal(t, srv, "", "logs", "deploy/none"); r.stderr != "Error from server (NotFound): deployments \"none\" not found\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestDescribePodWithEvents(t *testing.T) {
	srv := clienttest.NewServer(t)
	p := running("web-1", "default", ago(time.Hour))
	p.Spec.NodeName = "h1"
	p.Spec.Containers[0].Env = []api.EnvVar{{Name: "MODE", Value: "prod"}}
	other := running("web-2", "default", ago(time.Hour))
	srv.Add(p, other)
	event := func(name, reason, uid string, at time.Duration) *api.Event {
		return &api.Event{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Type: api.EventNormal, Reason: reason,
			InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web-1", Namespace: "default", UID: uid},
			Source:         api.EventSource{Component: "shoal-agent", Host: "h1"}, Message: reason + " it", LastTimestamp: ago(at)}
	}
	srv.Add(event("e-b", "Started", p.UID, 10*time.Minute), event("e-a", "Scheduled", p.UID, 59*time.Minute),
		event("e-c", "Pulled", p.UID, 30*time.Minute), event("stale", "Killing", "old-uid", time.Minute))
	r := shoal(t, srv, "", "describe", "pod", "web-1")
	expectOK(t, r)
	for _, f := range [][3]string{{"", "Name", "web-1"}, {"", "Namespace", "default"}, {"", "Node", "h1"},
		{"", "Status", "Running"}, {"", "Labels", "app=web"}, {"    ", "Image", "nginx"}, {"    ", "State", "Running"},
		{"      ", "MODE", "prod"}} {
		expectField(t, r.stdout, f[0], f[1], f[2])
	}
	if !strings.Contains(r.stdout, "\nContainers:\n  app:\n") {
		t.Errorf("containers not nested:\n%s", r.stdout)
	}
	events := r.stdout[strings.Index(r.stdout, "Events:"):]
	want := `Events:
  Type    Reason     Age   From             Message
  ----    ------     ----  ----             -------
  Normal  Scheduled  59m   shoal-agent, h1  Scheduled it
  Normal  Pulled     30m   shoal-agent, h1  Pulled it
  Normal  Started    10m   shoal-agent, h1  Started it
`
	if events != want {
		t.Fatalf("events:\n%s\nwant:\n%s", events, want)
	}
	r = shoal(t, srv, "", "describe", "pod", "web-2")
	if !regexp.MustCompile(`\nEvents:\s+<none>\n$`).MatchString(r.stdout) {
		t.Fatalf("other pod's events:\n%s", r.stdout)
	}
}

func TestDescribeDeploymentAndMissing(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 3, 2, 3, 2, ago(time.Hour)))
	r := shoal(t, srv, "", "describe", "deploy/web")
	expectOK(t, r)
	for _, f := range [][3]string{{"", "Selector", "app=web"},
		{"", "Replicas", "3 desired | 3 updated | 3 total | 2 available | 0 unavailable"},
		{"", "StrategyType", "RollingUpdate"}, {"      ", "Image", "nginx:1.27"}, {"", "NewReplicaSet", "<none>"}} {
		expectField(t, r.stdout, f[0], f[1], f[2])
	}
	if !strings.Contains(r.stdout, "\nPod Template:\n  Labels:  app=web\n  Containers:\n    web:\n") {
		t.Errorf("pod template not nested:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "describe", "deploy", "nope")
	if r.code != 1 || r.stderr != "Error from server (NotFound): deployments \"nope\" not found\n" {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

// expectField checks a describe line "indent Label:   value".
func expectField(t *testing.T, out, indent, label, value string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + indent + regexp.QuoteMeta(label+":") + ` +` + regexp.QuoteMeta(value) + `$`)
	if !re.MatchString(out) {
		t.Errorf("no line %q with %q in:\n%s", indent+label+":", value, out)
	}
}

func TestVersionAndToken(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "version", "--client")
	expectOK(t, r)
	if r.stdout != "Client Version: "+Version+"\n" || len(srv.Requests()) != 0 {
		t.Fatalf("--client: %q, %d requests", r.stdout, len(srv.Requests()))
	}
	// The version is public, as in Kubernetes; the objects are not.
	r = shoal(t, srv, "", "--token", "", "version")
	expectOK(t, r)
	if r.stdout != "Client Version: "+Version+"\nServer Version: "+clienttest.Version+"\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = shoal(t, srv, "", "--token", "", "get", "pods")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error from server (Unauthorized): Unauthorized: this API needs a bearer token") {
		t.Fatalf("without a token: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "--token", wrongToken, "get", "pods")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error from server (Unauthorized): Unauthorized: the bearer token is not valid here") {
		t.Fatalf("with a wrong token: %d %q", r.code, r.stderr)
	}
	reqs := srv.Requests()
	if h := reqs[len(reqs)-1].Header.Get("Authorization"); h != "Bearer "+wrongToken {
		t.Fatalf("--token sent as Authorization %q", h)
	}
	expectOK(t, shoal(t, srv, "", "get", "pods"))
	srv.Close()
	r = shoal(t, srv, "", "version")
	expectOK(t, r)
	if !strings.HasPrefix(r.stderr, "Server Version: unknown (cannot reach the shoal agent at "+srv.URL) {
		t.Fatalf("unreachable agent: stderr %q", r.stderr)
	}
	r = shoal(t, srv, "", "get", "pods")
	if r.code != 1 || !strings.Contains(r.stderr, "is the agent running? start it with scripts/run") || r.stdout != "" {
		t.Fatalf("get with no agent: %d %q", r.code, r.stderr)
	}
}

func TestPanicBecomesOneLine(t *testing.T) {
	boom := &cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error { panic("nil map") }}
	root := newRoot(&env{now: time.Now}, nil, boom)
	root.SetArgs([]string{"boom"})
	var out, errOut syncBuffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if code := run(context.Background(), root); code != 2 {
		t.Fatalf("exit status %d", code)
	}
	if got := errOut.String(); got != "error: internal error: nil map (please report this as a bug of shoal "+Version+")\n" {
		t.Fatalf("stderr %q", got)
	}
}

func TestAgentHook(t *testing.T) {
	agent := &cobra.Command{Use: "agent", Run: func(*cobra.Command, []string) {}}
	pause := &cobra.Command{Use: "pause", Run: func(*cobra.Command, []string) {}}
	root := NewRootCommand(agent, pause)
	for _, name := range []string{"agent", "pause", "get", "apply", "version"} {
		if c, _, err := root.Find([]string{name}); err != nil || c.Name() != name {
			t.Errorf("root has no %q command", name)
		}
	}
}
