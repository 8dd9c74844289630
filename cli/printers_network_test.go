package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/api/printers"
)

func newService(name, typ, ip string, ports ...api.ServicePort) *api.Service {
	s := &api.Service{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(10 * time.Minute),
			Labels: map[string]string{"app": name}},
		Spec: api.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}, Ports: ports,
			SessionAffinity: api.AffinityNone},
	}
	if ip != "" {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip}
	}
	return s
}

func svcPort(name string, port int32, proto string, target api.IntOrString, nodePort int32) api.ServicePort {
	return api.ServicePort{Name: name, Port: port, Protocol: proto, TargetPort: target, NodePort: nodePort}
}

func serviceFixture() []api.Object {
	web := newService("web", api.ServiceTypeClusterIP, "10.96.0.10", svcPort("", 80, "TCP", api.FromInt(8080), 0))
	web.CreationTimestamp = ago(5 * time.Minute)
	ext := newService("ext", api.ServiceTypeExternalName, "")
	ext.Spec.ExternalName, ext.Spec.Selector = "db.example.com", nil
	lb2 := newService("lb2", api.ServiceTypeLoadBalancer, "10.96.7.8", svcPort("", 80, "TCP", api.FromInt(80), 31001))
	return []api.Object{
		web,
		newService("dns", api.ServiceTypeClusterIP, "10.96.0.53", svcPort("dns", 53, "UDP", api.FromInt(53), 0),
			svcPort("dns-tcp", 53, "TCP", api.FromInt(53), 0)),
		newService("front", api.ServiceTypeNodePort, "10.96.4.2", svcPort("http", 80, "TCP", api.FromString("http"), 30080),
			svcPort("https", 443, "TCP", api.FromInt(8443), 30443)),
		newService("db", api.ServiceTypeClusterIP, api.ClusterIPNone, svcPort("", 5432, "TCP", api.FromInt(5432), 0)),
		ext,
		newService("lb", api.ServiceTypeLoadBalancer, "10.96.7.7", svcPort("", 80, "TCP", api.FromInt(80), 31000)),
		lb2,
	}
}

func TestGetServicesTable(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(serviceFixture()...)
	r := shoal(t, srv, "", "get", "svc")
	expectOK(t, r)
	want := `NAME    TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)                      AGE
db      ClusterIP      None         <none>           5432/TCP                     10m
dns     ClusterIP      10.96.0.53   <none>           53/UDP,53/TCP                10m
ext     ExternalName   <none>       db.example.com   <none>                       10m
front   NodePort       10.96.4.2    <none>           80:30080/TCP,443:30443/TCP   10m
lb      LoadBalancer   10.96.7.7    <pending>        80:31000/TCP                 10m
lb2     LoadBalancer   10.96.7.8    <pending>        80:31001/TCP                 10m
web     ClusterIP      10.96.0.10   <none>           80/TCP                       5m
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if q := srv.Requests()[0]; q.Path != "/api/v1/namespaces/default/services" {
		t.Fatalf("listed %s", q.Path)
	}

	r = shoal(t, srv, "", "get", "services", "web", "lb2", "ext", "-o", "wide")
	expectOK(t, r)
	want = `NAME   TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)        AGE   SELECTOR
web    ClusterIP      10.96.0.10   <none>           80/TCP         5m    app=web
lb2    LoadBalancer   10.96.7.8    <pending>        80:31001/TCP   10m   app=lb2
ext    ExternalName   <none>       db.example.com   <none>         10m   <none>
`
	if r.stdout != want {
		t.Fatalf("wide, got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

// Nothing in shoal writes the status of a Service or an Ingress (there is
// no load balancer), and the server keeps none; objects from elsewhere may
// carry addresses, which print as kubectl prints them.
func TestLoadBalancerAddresses(t *testing.T) {
	lb := newService("lb2", api.ServiceTypeLoadBalancer, "10.96.7.8", svcPort("", 80, "TCP", api.FromInt(80), 31001))
	lb.Status.LoadBalancer.Ingress = []api.LoadBalancerIngress{{IP: "203.0.113.11"}, {IP: "203.0.113.10"}}
	in := newIngress("served", "", ingRule("shop.example.com", ingPath("/", "web", 80, "")))
	in.Status.LoadBalancer.Ingress = []api.LoadBalancerIngress{{IP: "10.213.0.12"}, {Hostname: "lb.example.com"}, {IP: "10.213.0.12"}}
	for _, tc := range []struct {
		obj  api.Object
		wide bool
		want string
	}{
		{lb, false, `NAME   TYPE           CLUSTER-IP   EXTERNAL-IP        PORT(S)        AGE
lb2    LoadBalancer   10.96.7.8    203.0.113.10,...   80:31001/TCP   10m
`},
		{lb, true, `NAME   TYPE           CLUSTER-IP   EXTERNAL-IP                 PORT(S)        AGE   SELECTOR
lb2    LoadBalancer   10.96.7.8    203.0.113.10,203.0.113.11   80:31001/TCP   10m   app=lb2
`},
		{in, false, `NAME     CLASS    HOSTS              ADDRESS            PORTS   AGE
served   <none>   shop.example.com   10.213.0.12,l...   80      120m
`},
	} {
		var b bytes.Buffer
		if err := newTablePrinter(&b, api.KindOf(tc.obj), tableOptions{wide: tc.wide}, fixedNow).print([]api.Object{tc.obj}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
		}
	}
	// describe shows them all, each once, sorted.
	if got := printers.LoadBalancerString(in.Status.LoadBalancer, true); got != "10.213.0.12,lb.example.com" {
		t.Errorf("describe's address %q", got)
	}
}

func TestServiceWithoutDefaults(t *testing.T) {
	// A service as written in a manifest, before the server defaults it:
	// no type, no protocol, no cluster IP yet.
	s := &api.Service{ObjectMeta: api.ObjectMeta{Name: "raw", CreationTimestamp: ago(time.Minute)},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Port: 80}}}}
	var b bytes.Buffer
	if err := newTablePrinter(&b, api.KindService, tableOptions{}, fixedNow).print([]api.Object{s}); err != nil {
		t.Fatal(err)
	}
	want := "NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n" +
		"raw    ClusterIP   <none>       <none>        80/TCP    60s\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func newEndpoints(name string, subsets ...api.EndpointSubset) *api.Endpoints {
	return &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(3 * time.Minute)},
		Subsets: subsets}
}

func epAddrs(ips ...string) []api.EndpointAddress {
	out := make([]api.EndpointAddress, len(ips))
	for i, ip := range ips {
		out[i] = api.EndpointAddress{IP: ip}
	}
	return out
}

func epPort(name string, port int32) api.EndpointPort {
	return api.EndpointPort{Name: name, Port: port, Protocol: "TCP"}
}

func TestGetEndpointsTable(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(
		newEndpoints("web", api.EndpointSubset{Addresses: epAddrs("10.244.1.2", "10.244.2.3"), NotReadyAddresses: epAddrs("10.244.3.4"),
			Ports: []api.EndpointPort{epPort("", 8080)}}),
		newEndpoints("big", api.EndpointSubset{Addresses: epAddrs("10.244.1.1", "10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5"),
			Ports: []api.EndpointPort{epPort("", 80)}}),
		newEndpoints("headless", api.EndpointSubset{Addresses: epAddrs("10.244.1.9")}),
		newEndpoints("empty"),
		newEndpoints("starting", api.EndpointSubset{NotReadyAddresses: epAddrs("10.244.1.7"), Ports: []api.EndpointPort{epPort("", 80)}}),
		newEndpoints("multi", api.EndpointSubset{Addresses: epAddrs("10.244.1.2"), Ports: []api.EndpointPort{epPort("http", 80), epPort("metrics", 9090)}}),
	)
	r := shoal(t, srv, "", "get", "ep")
	expectOK(t, r)
	want := `NAME       ENDPOINTS                                               AGE
big        10.244.1.1:80,10.244.1.2:80,10.244.1.3:80 + 2 more...   3m
empty      <none>                                                  3m
headless   10.244.1.9                                              3m
multi      10.244.1.2:80,10.244.1.2:9090                           3m
starting   <none>                                                  3m
web        10.244.1.2:8080,10.244.2.3:8080                         3m
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func newIngress(name string, class string, rules ...api.IngressRule) *api.Ingress {
	in := &api.Ingress{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(2 * time.Hour)},
		Spec: api.IngressSpec{Rules: rules}}
	if class != "" {
		in.Spec.IngressClassName = &class
	}
	return in
}

func ingRule(host string, paths ...api.HTTPIngressPath) api.IngressRule {
	return api.IngressRule{Host: host, HTTP: &api.HTTPIngressRuleValue{Paths: paths}}
}

func ingPath(p, svc string, port int32, portName string) api.HTTPIngressPath {
	return api.HTTPIngressPath{Path: p, PathType: api.PathTypePrefix, Backend: api.IngressBackend{
		Service: &api.IngressServiceBackend{Name: svc, Port: api.ServiceBackendPort{Number: port, Name: portName}}}}
}

func TestGetIngressesTable(t *testing.T) {
	srv := clienttest.NewServer(t)
	root := ingPath("/", "web", 80, "")
	many := newIngress("many", "shoal", ingRule("a.example.com", root), ingRule("b.example.com", root), ingRule("", root),
		ingRule("c.example.com", root), ingRule("d.example.com", root), ingRule("e.example.com", root))
	many.Spec.TLS = []api.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "tls"}}
	served := newIngress("served", "", ingRule("shop.example.com", root))
	srv.Add(newIngress("web", "shoal", ingRule("web.example.com", root)), newIngress("any", "", ingRule("", root)), many, served)
	r := shoal(t, srv, "", "get", "ing")
	expectOK(t, r)
	want := `NAME     CLASS    HOSTS                                                                 ADDRESS   PORTS     AGE
any      <none>   *                                                                               80        120m
many     shoal    a.example.com,b.example.com,c.example.com,d.example.com + 2 more...             80, 443   120m
served   <none>   shop.example.com                                                                80        120m
web      shoal    web.example.com                                                                 80        120m
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if q := srv.Requests()[0]; q.Path != "/apis/networking.k8s.io/v1/namespaces/default/ingresses" {
		t.Fatalf("listed %s", q.Path)
	}
}

func TestIngressHosts(t *testing.T) {
	r := func(host string) api.IngressRule { return api.IngressRule{Host: host} }
	for _, tc := range []struct {
		rules []api.IngressRule
		want  string
	}{
		{nil, "*"},
		{[]api.IngressRule{r(""), r("")}, "*"},
		{[]api.IngressRule{r("a"), r(""), r("b")}, "a,b"},
		{[]api.IngressRule{r("a"), r("b"), r("c"), r("d")}, "a,b,c,d"},
		// kubectl counts every rule past the fourth host, with a host or not.
		{[]api.IngressRule{r("a"), r("b"), r("c"), r("d"), r("")}, "a,b,c,d + 1 more..."},
		{[]api.IngressRule{r("a"), r(""), r("b"), r("c"), r("d")}, "a,b,c,d"},
	} {
		if got := printers.IngressHosts(tc.rules); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.rules, got, tc.want)
		}
	}
}

func TestGetAllIncludesServices(t *testing.T) {
	srv := clienttest.NewServer(t)
	web := newService("web", api.ServiceTypeClusterIP, "10.96.0.10", svcPort("", 80, "TCP", api.FromInt(8080), 0))
	web.CreationTimestamp = ago(time.Hour)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)), running("web-1", "default", ago(time.Hour)), web)
	r := shoal(t, srv, "", "get", "all")
	expectOK(t, r)
	want := `NAME        READY   STATUS    RESTARTS   AGE
pod/web-1   1/1     Running   0          60m

NAME          TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE
service/web   ClusterIP   10.96.0.10   <none>        80/TCP    60m

NAME                  READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/web   1/1     1            1           60m
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}
