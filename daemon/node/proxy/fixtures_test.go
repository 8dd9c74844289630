package proxy

import (
	"fmt"

	"github.com/shoal-dev/shoal/api"
)

// svc makes a Service; opts adjust it.
func svc(ns, name, vip string, ports ...api.ServicePort) *api.Service {
	s := &api.Service{Spec: api.ServiceSpec{Type: api.ServiceTypeClusterIP, ClusterIP: vip, Ports: ports}}
	s.Kind, s.APIVersion = "Service", "v1"
	s.Namespace, s.Name = ns, name
	return s
}

func port(name, proto string, p int32) api.ServicePort {
	return api.ServicePort{Name: name, Protocol: proto, Port: p, TargetPort: api.FromInt(p)}
}

// eps makes Endpoints with one subset of ready addresses on the ports.
func eps(ns, name string, ips []string, ports ...api.EndpointPort) *api.Endpoints {
	e := &api.Endpoints{}
	e.Kind, e.APIVersion = "Endpoints", "v1"
	e.Namespace, e.Name = ns, name
	if len(ips) > 0 || len(ports) > 0 {
		ss := api.EndpointSubset{Ports: ports}
		for _, ip := range ips {
			ss.Addresses = append(ss.Addresses, api.EndpointAddress{IP: ip})
		}
		e.Subsets = []api.EndpointSubset{ss}
	}
	return e
}

func epPort(name, proto string, p int32) api.EndpointPort {
	return api.EndpointPort{Name: name, Protocol: proto, Port: p}
}

// manyServices makes n ClusterIP services with k endpoints each, the
// benchmark's state.
func manyServices(n, k int) ([]*api.Service, []*api.Endpoints) {
	var ss []*api.Service
	var es []*api.Endpoints
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		ss = append(ss, svc("bench", name, fmt.Sprintf("10.96.%d.%d", i/250, 1+i%250), port("http", "TCP", 80)))
		var ips []string
		for j := range k {
			ips = append(ips, fmt.Sprintf("10.244.%d.%d", (i*k+j)/250, 2+(i*k+j)%250))
		}
		es = append(es, eps("bench", name, ips, epPort("http", "TCP", 8080)))
	}
	return ss, es
}
