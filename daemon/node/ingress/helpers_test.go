package ingress

import (
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ingressOf builds an Ingress created at t0 + age.
func ingressOf(ns, name string, age time.Duration, spec api.IngressSpec) *api.Ingress {
	ing := &api.Ingress{Spec: spec}
	ing.Kind, ing.APIVersion = "Ingress", "networking.k8s.io/v1"
	ing.Namespace, ing.Name = ns, name
	ing.CreationTimestamp = api.NewTime(t0.Add(age))
	return ing
}

// rule routes host to the given paths.
func rule(host string, paths ...api.HTTPIngressPath) api.IngressRule {
	return api.IngressRule{Host: host, HTTP: &api.HTTPIngressRuleValue{Paths: paths}}
}

// httpPath routes p of the type to port 80 of svc.
func httpPath(typ, p, svc string) api.HTTPIngressPath {
	return api.HTTPIngressPath{Path: p, PathType: typ, Backend: *to(svc)}
}

func to(svc string) *api.IngressBackend {
	return &api.IngressBackend{Service: &api.IngressServiceBackend{Name: svc, Port: api.ServiceBackendPort{Number: 80}}}
}

// serviceOf makes a Service with one port 80 named "http".
func serviceOf(ns, name string) *api.Service {
	s := &api.Service{Spec: api.ServiceSpec{Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromInt(8080)}}}}
	s.Kind, s.APIVersion = "Service", "v1"
	s.Namespace, s.Name = ns, name
	return s
}

// endpointsOf puts every "ip:port" in a subset of its own, port named "http".
func endpointsOf(t *testing.T, ns, name string, ready []string, notReady ...string) *api.Endpoints {
	t.Helper()
	e := &api.Endpoints{}
	e.Kind, e.APIVersion = "Endpoints", "v1"
	e.Namespace, e.Name = ns, name
	sub := func(hostport string, isReady bool) api.EndpointSubset {
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			t.Fatalf("endpoint %q: %v", hostport, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatalf("endpoint %q: %v", hostport, err)
		}
		ss := api.EndpointSubset{Ports: []api.EndpointPort{{Name: "http", Port: int32(n)}}}
		if isReady {
			ss.Addresses = []api.EndpointAddress{{IP: host}}
		} else {
			ss.NotReadyAddresses = []api.EndpointAddress{{IP: host}}
		}
		return ss
	}
	for _, a := range ready {
		e.Subsets = append(e.Subsets, sub(a, true))
	}
	for _, a := range notReady {
		e.Subsets = append(e.Subsets, sub(a, false))
	}
	return e
}

// hostPort is the "ip:port" of a test server's URL.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
