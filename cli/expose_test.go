package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// sentBody returns the body of the one request with this method and path.
func sentBody(t *testing.T, srv *clienttest.Server, method, path string) string {
	t.Helper()
	var bodies []string
	for _, q := range srv.Requests() {
		if q.Method == method && q.Path == path {
			bodies = append(bodies, string(q.Body))
		}
	}
	if len(bodies) != 1 {
		t.Fatalf("%d %s %s requests, want 1", len(bodies), method, path)
	}
	return bodies[0]
}

// posts counts the POST requests, which a failed or dry-run expose must not send.
func posts(srv *clienttest.Server) int {
	n := 0
	for _, q := range srv.Requests() {
		if q.Method == "POST" {
			n++
		}
	}
	return n
}

func withPorts(d *api.Deployment, ports ...api.ContainerPort) *api.Deployment {
	d.Spec.Template.Spec.Containers[0].Ports = ports
	return d
}

func TestExposeDeployment(t *testing.T) {
	srv := clienttest.NewServer(t)
	d := withPorts(deployment("web", 2, 2, 2, 2, ago(time.Hour)), api.ContainerPort{ContainerPort: 8080})
	d.Labels = map[string]string{"app": "web", "tier": "front"}
	srv.Add(d)
	r := shoal(t, srv, "", "expose", "deployment/web", "--port", "80", "--target-port", "8080")
	expectOK(t, r)
	if r.stdout != "service/web exposed\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default","labels":{"app":"web","tier":"front"}},` +
		`"spec":{"selector":{"app":"web"},"ports":[{"protocol":"TCP","port":80,"targetPort":8080}]}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/default/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
	// The server's defaults make it a ClusterIP service, with an address.
	r = shoal(t, srv, "", "get", "svc", "web")
	expectOK(t, r)
	if !regexp.MustCompile(`^NAME   TYPE        CLUSTER-IP +EXTERNAL-IP   PORT\(S\)   AGE\nweb    ClusterIP   10\.96\.\d+\.\d+ +<none>        80/TCP    `).MatchString(r.stdout) {
		t.Fatalf("get svc:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "expose", "deploy/web", "--port", "80")
	if r.code != 1 || r.stderr != "Error from server (AlreadyExists): services \"web\" already exists\n" {
		t.Fatalf("twice: %d %q", r.code, r.stderr)
	}
}

func TestExposeFindsPortsAndProtocols(t *testing.T) {
	srv := clienttest.NewServer(t)
	d := withPorts(deployment("dns", 1, 1, 1, 1, ago(time.Hour)), api.ContainerPort{ContainerPort: 8080},
		api.ContainerPort{ContainerPort: 53, Protocol: "UDP"}, api.ContainerPort{ContainerPort: 53, Protocol: "TCP"})
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers,
		api.Container{Name: "metrics", Image: "exporter", Ports: []api.ContainerPort{{ContainerPort: 9100}, {ContainerPort: 8080}}})
	srv.Add(d)
	r := shoal(t, srv, "", "-n", "default", "expose", "deploy", "dns", "--labels", "svc=dns")
	expectOK(t, r)
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"default","labels":{"svc":"dns"}},` +
		`"spec":{"selector":{"app":"dns"},"ports":[` +
		`{"name":"port-1","protocol":"TCP","port":8080,"targetPort":8080},` +
		`{"name":"port-2-udp","protocol":"UDP","port":53,"targetPort":53},` +
		`{"name":"port-2-tcp","protocol":"TCP","port":53,"targetPort":53},` +
		`{"name":"port-3","protocol":"TCP","port":9100,"targetPort":9100}]}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/default/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
	// --port takes the protocol the pods use on it; --protocol overrides.
	r = shoal(t, srv, "", "expose", "deploy/dns", "--name", "dns-udp", "--port", "53", "--protocol", "udp", "--dry-run=client", "-o", "json")
	expectOK(t, r)
	if !strings.Contains(r.stdout, `"ports": [
            {
                "protocol": "UDP",
                "port": 53,
                "targetPort": 53
            }
        ]`) {
		t.Fatalf("dry run:\n%s", r.stdout)
	}
}

func TestExposePodAsNodePort(t *testing.T) {
	srv := clienttest.NewServer(t)
	p := running("db-0", "team", ago(time.Hour))
	p.Labels = map[string]string{"app": "db", "role": "primary"}
	srv.Add(p)
	r := shoal(t, srv, "", "-n", "team", "expose", "pod/db-0", "--port", "5432", "--name", "db", "--node-port", "30432",
		"--session-affinity", "ClientIP", "-o", "name")
	expectOK(t, r)
	if r.stdout != "service/db\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"db","namespace":"team","labels":{"app":"db","role":"primary"}},` +
		`"spec":{"type":"NodePort","selector":{"app":"db","role":"primary"},` +
		`"ports":[{"protocol":"TCP","port":5432,"targetPort":5432,"nodePort":30432}],"sessionAffinity":"ClientIP"}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/team/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
	if _, ok := srv.Object(api.KindService, "team", "db").(*api.Service); !ok {
		t.Fatal("service not stored")
	}
}

func TestExposeServiceKeepsTargetPorts(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(newService("web", api.ServiceTypeClusterIP, "10.96.0.10", svcPort("http", 80, "TCP", api.FromString("http"), 0),
		svcPort("admin", 9000, "TCP", api.FromInt(9443), 0)))
	r := shoal(t, srv, "", "expose", "svc/web", "--name", "web-public", "--type", "NodePort", "--selector", "app=web,tier=front")
	expectOK(t, r)
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web-public","namespace":"default","labels":{"app":"web"}},` +
		`"spec":{"type":"NodePort","selector":{"app":"web","tier":"front"},"ports":[` +
		`{"name":"port-1","protocol":"TCP","port":80,"targetPort":"http"},` +
		`{"name":"port-2","protocol":"TCP","port":9000,"targetPort":9443}]}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/default/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
}

func TestExposeDryRunYAML(t *testing.T) {
	srv := clienttest.NewServer(t)
	d := deployment("web", 1, 1, 1, 1, ago(time.Hour))
	srv.Add(d)
	srv.Add(ownedRS(d, "5d8f7", "1", "nginx", ""))
	r := shoal(t, srv, "", "expose", "rs/web-5d8f7", "--port", "80", "--target-port", "http", "--dry-run=client", "-o", "yaml")
	expectOK(t, r)
	want := `apiVersion: v1
kind: Service
metadata:
  labels:
    app: web
    pod-template-hash: 5d8f7
  name: web-5d8f7
  namespace: default
spec:
  ports:
  - port: 80
    protocol: TCP
    targetPort: http
  selector:
    app: web
    pod-template-hash: 5d8f7
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if posts(srv) != 0 {
		t.Fatal("a client dry run must not create the service")
	}
	r = shoal(t, srv, "", "expose", "rs/web-5d8f7", "--port", "80", "--dry-run")
	expectOK(t, r)
	if r.stdout != "service/web-5d8f7 exposed (dry run)\n" || posts(srv) != 0 {
		t.Fatalf("dry run: %q", r.stdout)
	}
}

func TestExposeRefusals(t *testing.T) {
	srv := clienttest.NewServer(t)
	byExpression := deployment("expr", 1, 1, 1, 1, ago(time.Hour))
	byExpression.Spec.Selector.MatchExpressions = []api.LabelSelectorRequirement{{Key: "tier", Operator: api.OpIn, Values: []string{"a", "b"}}}
	byExpression.Spec.Template.Labels = map[string]string{"app": "expr", "tier": "a"}
	noPorts := deployment("noports", 1, 1, 1, 1, ago(time.Hour))
	bare := running("bare", "default", ago(time.Hour))
	bare.Labels = nil
	srv.Add(byExpression, noPorts, bare, daemonSet("agent", 1, 1, 1, ago(time.Hour)))
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"deploy/expr", "--port", "80"},
			"error: couldn't convert expressions - \"[{Key:tier Operator:In Values:[a b]}]\" to map-based selector format\n"},
		{[]string{"deploy/noports"},
			"error: couldn't find port via --port flag or introspection; give --port\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"pod/bare", "--port", "80"}, "error: the pod has no labels and cannot be exposed\n"},
		{[]string{"ds/agent", "--port", "80"},
			"error: cannot expose a DaemonSet.apps; expose works on deployments, replicasets, pods and services\n"},
		{[]string{"deploy/nope", "--port", "80"}, "Error from server (NotFound): deployments \"nope\" not found\n"},
		{[]string{"deploy/expr", "deploy/noports", "--port", "80"},
			"error: expose takes exactly one object, such as deploy/web\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{}, "error: name the object to expose, such as deploy/web\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"deploy/noports", "--port", "80", "--type", "LoadBalancer"},
			"error: --type must be ClusterIP or NodePort, not \"LoadBalancer\" (shoal has no load balancers; a NodePort service is reachable on every node)\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"deploy/noports", "--port", "80", "--type", "ClusterIP", "--node-port", "30080"},
			"error: --node-port needs --type NodePort, not ClusterIP\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"deploy/noports", "--port", "80", "--node-port", "8080"},
			"error: --node-port 8080: must be between 30000 and 32767\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"deploy/noports", "--port", "70000"},
			"error: --port 70000: must be between 1 and 65535\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"deploy/noports", "--port", "80", "--protocol", "SCTP"},
			"error: --protocol must be TCP or UDP, not \"SCTP\"\nSee 'shoal expose -h' for help and examples\n"},
		{[]string{"deploy/noports", "--port", "80", "--selector", "app"},
			"error: --selector: \"app\": expected key=value\nSee 'shoal expose -h' for help and examples\n"},
	} {
		r := shoal(t, srv, "", append([]string{"expose"}, tc.args...)...)
		if r.code != 1 || r.stderr != tc.stderr {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.stderr)
		}
	}
	if posts(srv) != 0 {
		t.Fatal("a refused expose must not create anything")
	}
	// Mistakes on the command line are found before the server is asked.
	quiet := clienttest.NewServer(t)
	for _, args := range [][]string{{"deploy/web", "--labels", "a=b,c"}, {"deploy/web", "--type", "nope"}, {"ds/web"}} {
		if r := shoal(t, quiet, "", append([]string{"expose"}, args...)...); r.code != 1 || len(quiet.Requests()) != 0 {
			t.Errorf("%v: exit %d after %d requests", args, r.code, len(quiet.Requests()))
		}
	}
	// The server's own checks still apply, such as the name's.
	r := shoal(t, srv, "", "expose", "deploy/noports", "--port", "80", "--name", "Not_Valid")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error from server (Invalid): ") {
		t.Fatalf("invalid name: %d %q", r.code, r.stderr)
	}
}

func TestExposeHeadlessWithoutPorts(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("db", 1, 1, 1, 1, ago(time.Hour)))
	r := shoal(t, srv, "", "expose", "deploy/db", "--cluster-ip", "None")
	expectOK(t, r)
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"db","namespace":"default","labels":{"app":"db"}},` +
		`"spec":{"selector":{"app":"db"},"clusterIP":"None"}}`
	if got := sentBody(t, srv, "POST", "/api/v1/namespaces/default/services"); got != want {
		t.Fatalf("sent:\n%s\nwant:\n%s", got, want)
	}
}
