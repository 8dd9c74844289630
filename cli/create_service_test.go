package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func TestCreateServiceClusterIP(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(namespace("team"))
	r := shoal(t, srv, "", "-n", "team", "create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp", "9000:metrics")
	expectOK(t, r)
	if r.stdout != "service/web created\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"team","labels":{"app":"web"}},` +
		`"spec":{"type":"ClusterIP","selector":{"app":"web"},"ports":[` +
		`{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080},` +
		`{"name":"9000-metrics","protocol":"TCP","port":9000,"targetPort":"metrics"}]}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/team/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
	r = shoal(t, srv, "", "create", "svc", "clusterip", "db", "--clusterip=None", "--dry-run=client", "-o", "yaml")
	expectOK(t, r)
	wantYAML := `apiVersion: v1
kind: Service
metadata:
  labels:
    app: db
  name: db
  namespace: default
spec:
  clusterIP: None
  selector:
    app: db
  type: ClusterIP
`
	if r.stdout != wantYAML {
		t.Fatalf("dry run:\n%s\nwant:\n%s", r.stdout, wantYAML)
	}
	if posts(srv) != 1 {
		t.Fatal("a client dry run must not create the service")
	}
}

func TestCreateServiceNodePort(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "create", "service", "nodeport", "web", "--tcp=80", "--node-port=30080", "-o", "name")
	expectOK(t, r)
	if r.stdout != "service/web\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},` +
		`"spec":{"type":"NodePort","selector":{"app":"web"},"ports":[` +
		`{"name":"80","protocol":"TCP","port":80,"targetPort":80,"nodePort":30080}]}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/default/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
	r = shoal(t, srv, "", "get", "svc", "web")
	expectOK(t, r)
	// The agent allocates the cluster IP.
	if !regexp.MustCompile(`^NAME   TYPE       CLUSTER-IP +EXTERNAL-IP   PORT\(S\)        AGE\nweb    NodePort   10\.96\.\d+\.\d+ +<none>        80:30080/TCP   `).MatchString(r.stdout) {
		t.Fatalf("get svc:\n%s", r.stdout)
	}
}

func TestCreateServiceErrors(t *testing.T) {
	srv := clienttest.NewServer(t)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"clusterip"}, "create service clusterip takes exactly one NAME"},
		{[]string{"clusterip", "web"}, "at least one --tcp port is required"},
		{[]string{"clusterip", "web", "--tcp=http"}, `--tcp=http: the port "http" must be a number between 1 and 65535`},
		{[]string{"clusterip", "web", "--tcp=80:0"}, "--tcp=80:0: the target port 0 must be between 1 and 65535"},
		{[]string{"clusterip", "web", "--tcp=80:Not_A_Name"}, `the target port "Not_A_Name" must be a number or a container port name`},
		{[]string{"nodeport", "web", "--tcp=80", "--node-port=80"}, "--node-port 80: must be between 30000 and 32767"},
		{[]string{"nodeport", "web", "--tcp=80,443", "--node-port=30080"}, "--node-port can be the node port of one --tcp port only, not 2"},
		{[]string{"nodeport", "web", "--tcp=80", "--clusterip=None"}, "unknown flag: --clusterip"},
	} {
		r := shoal(t, srv, "", append([]string{"create", "service"}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.msg) || !strings.Contains(r.stderr, "See 'shoal create service ") {
			t.Errorf("%v: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
	}
	if len(srv.Requests()) != 0 {
		t.Fatal("a refused create must not call the server")
	}
}
