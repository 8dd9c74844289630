package ingress

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestResolve(t *testing.T) {
	twoPorts := serviceOf("default", "web")
	twoPorts.Spec.Ports = []api.ServicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9100}}
	unnamed := serviceOf("default", "web")
	unnamed.Spec.Ports = []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080)}}
	external := serviceOf("default", "web")
	external.Spec.Type = api.ServiceTypeExternalName
	udp := serviceOf("default", "web")
	udp.Spec.Ports[0].Protocol = "UDP"

	named := &api.Endpoints{Subsets: []api.EndpointSubset{
		{
			Addresses:         []api.EndpointAddress{{IP: "10.0.0.2"}, {IP: "10.0.0.1"}},
			NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.9"}},
			Ports:             []api.EndpointPort{{Name: "metrics", Port: 9100}, {Name: "http", Port: 8080}},
		},
		{
			Addresses: []api.EndpointAddress{{IP: "10.0.1.1"}, {IP: "10.0.0.1"}},
			Ports:     []api.EndpointPort{{Name: "http", Port: 8080}},
		},
		{ // no "http" port: not a backend of it
			Addresses: []api.EndpointAddress{{IP: "10.0.2.1"}},
			Ports:     []api.EndpointPort{{Name: "metrics", Port: 9100}, {Name: "admin", Port: 9000}},
		},
	}}
	single := &api.Endpoints{Subsets: []api.EndpointSubset{{
		Addresses: []api.EndpointAddress{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
		Ports:     []api.EndpointPort{{Port: 8080}},
	}}}
	notReady := &api.Endpoints{Subsets: []api.EndpointSubset{{
		NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.1"}},
		Ports:             []api.EndpointPort{{Name: "http", Port: 8080}},
	}}}

	num := func(n int32) api.ServiceBackendPort { return api.ServiceBackendPort{Number: n} }
	name := func(s string) api.ServiceBackendPort { return api.ServiceBackendPort{Name: s} }
	cases := []struct {
		name   string
		svc    *api.Service
		eps    *api.Endpoints
		port   api.ServiceBackendPort
		want   []string
		reason string // substring of the reason; "" for none
	}{
		{"port by number, endpoints port by name", twoPorts, named, num(80),
			[]string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.1.1:8080"}, ""},
		{"port by name", twoPorts, named, name("metrics"),
			[]string{"10.0.0.1:9100", "10.0.0.2:9100", "10.0.2.1:9100"}, ""},
		{"the only endpoints port", unnamed, single, num(80),
			[]string{"10.0.0.1:8080", "[fd00::1]:8080"}, ""},
		{"a single service port serves no port", unnamed, single, api.ServiceBackendPort{},
			[]string{"10.0.0.1:8080", "[fd00::1]:8080"}, ""},
		{"only not-ready addresses", twoPorts, notReady, num(80), nil, ""},
		{"no endpoints object", twoPorts, nil, num(80), nil, ""},
		{"no service", nil, named, num(80), nil, "service not found"},
		{"no such port number", twoPorts, named, num(81), nil, "no port 81"},
		{"no such port name", twoPorts, named, name("grpc"), nil, `no port "grpc"`},
		{"ExternalName", external, named, num(80), nil, "ExternalName"},
		{"UDP port", udp, named, num(80), nil, "not TCP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reason := resolve(c.svc, c.eps, c.port)
			if !slices.Equal(got, c.want) {
				t.Errorf("addresses = %v, want %v", got, c.want)
			}
			if (c.reason == "") != (reason == "") || !strings.Contains(reason, c.reason) {
				t.Errorf("reason = %q, want %q", reason, c.reason)
			}
		})
	}
}

func TestPickRoundRobin(t *testing.T) {
	be := &backend{addrs: []string{"a", "b", "c"}}
	var firsts, seconds []string
	for range 6 {
		f, s := be.pick()
		firsts, seconds = append(firsts, f), append(seconds, s)
	}
	if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(firsts, want) {
		t.Errorf("first picks = %v, want %v", firsts, want)
	}
	if want := []string{"b", "c", "a", "b", "c", "a"}; !slices.Equal(seconds, want) {
		t.Errorf("retry picks = %v, want %v", seconds, want)
	}
	one := &backend{addrs: []string{"a"}}
	if f, s := one.pick(); f != "a" || s != "" {
		t.Errorf("single endpoint: pick = %q, %q; want \"a\" and no retry", f, s)
	}
	if f, s := (&backend{}).pick(); f != "" || s != "" {
		t.Errorf("no endpoint: pick = %q, %q", f, s)
	}
}

func TestBuildResolvesBackends(t *testing.T) {
	ing := ingressOf("shop", "front", 0, api.IngressSpec{Rules: []api.IngressRule{
		rule("shop.example.com", httpPath(prefix, "/", "web"), httpPath(prefix, "/gone", "gone")),
	}})
	svcs := map[string]*api.Service{"shop/web": serviceOf("shop", "web")}
	eps := map[string]*api.Endpoints{"shop/web": endpointsOf(t, "shop", "web", []string{"10.0.0.1:8080"})}
	tbl := buildTable([]*api.Ingress{ing}, svcs, eps)

	if be := tbl.lookup("shop.example.com", "/").backend; !slices.Equal(be.addrs, []string{"10.0.0.1:8080"}) {
		t.Errorf("web addresses = %v", be.addrs)
	}
	err := tbl.lookup("shop.example.com", "/gone").backend.unavailable()
	if want := "no ready endpoints for service shop/gone (service not found)"; err.Error() != want {
		t.Errorf("missing service: %q, want %q", err, want)
	}
}
