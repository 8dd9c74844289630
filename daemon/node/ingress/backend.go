package ingress

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/shoal-dev/shoal/api"
)

// backend is a Service port resolved to the addresses of its ready
// endpoints, as of one table.
type backend struct {
	namespace, service string
	addrs              []string // "ip:port", sorted
	reason             string   // why addrs is empty, when not for lack of ready pods
	next               atomic.Uint32
	failing            atomic.Bool // the last request failed: log the next failure quietly
}

type backendKey struct {
	namespace, service, port string
}

// backend resolves a Service backend once per table and shares it between
// the routes naming the same Service port.
func (b *builder) backend(ns string, sb *api.IngressServiceBackend) *backend {
	port := sb.Port.Name
	if port == "" {
		port = strconv.Itoa(int(sb.Port.Number))
	}
	key := backendKey{ns, sb.Name, port}
	if be := b.backends[key]; be != nil {
		return be
	}
	be := &backend{namespace: ns, service: sb.Name}
	be.addrs, be.reason = resolve(b.svcs[ns+"/"+sb.Name], b.eps[ns+"/"+sb.Name], sb.Port)
	if n := len(be.addrs); n > 1 {
		// Start at a random endpoint so that every rebuild on every node
		// does not send its first request to the same pod.
		be.next.Store(rand.Uint32N(uint32(n)))
	}
	b.backends[key] = be
	return be
}

// resolve maps the Service port to the Endpoints port of the same name (or
// the only, unnamed one) and returns the ready addresses on it.
func resolve(svc *api.Service, eps *api.Endpoints, want api.ServiceBackendPort) (addrs []string, reason string) {
	if svc == nil {
		return nil, "service not found"
	}
	if svc.Spec.Type == api.ServiceTypeExternalName {
		return nil, "ExternalName services are not supported"
	}
	sp, ok := servicePort(svc, want)
	if !ok {
		return nil, "service has no port " + portName(want)
	}
	if sp.Protocol != "" && sp.Protocol != "TCP" {
		return nil, fmt.Sprintf("service port %s is %s, not TCP", portName(want), sp.Protocol)
	}
	if eps == nil {
		return nil, ""
	}
	for _, ss := range eps.Subsets {
		port, ok := subsetPort(ss.Ports, sp.Name)
		if !ok {
			continue
		}
		for _, a := range ss.Addresses {
			addrs = append(addrs, net.JoinHostPort(a.IP, strconv.Itoa(int(port))))
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs), ""
}

// servicePort finds the port by name, or by number; a Service with a single
// port also serves a backend that names none.
func servicePort(svc *api.Service, want api.ServiceBackendPort) (api.ServicePort, bool) {
	for _, sp := range svc.Spec.Ports {
		if (want.Name != "" && sp.Name == want.Name) || (want.Name == "" && want.Number != 0 && sp.Port == want.Number) {
			return sp, true
		}
	}
	if want.Name == "" && want.Number == 0 && len(svc.Spec.Ports) == 1 {
		return svc.Spec.Ports[0], true
	}
	return api.ServicePort{}, false
}

func subsetPort(ports []api.EndpointPort, name string) (int32, bool) {
	for _, p := range ports {
		if p.Name == name {
			return p.Port, true
		}
	}
	// An unnamed port is the only one of a single-port Service; a port
	// named otherwise belongs to another Service port.
	if len(ports) == 1 && (ports[0].Name == "" || name == "") {
		return ports[0].Port, true
	}
	return 0, false
}

func portName(p api.ServiceBackendPort) string {
	if p.Name != "" {
		return strconv.Quote(p.Name)
	}
	return strconv.Itoa(int(p.Number))
}

// pick returns the next endpoint in turn and, when there is another one, the
// endpoint a failed connection is retried on.
func (be *backend) pick() (first, second string) {
	n := uint32(len(be.addrs))
	if n == 0 {
		return "", ""
	}
	i := be.next.Add(1) - 1
	first = be.addrs[i%n]
	if n > 1 {
		second = be.addrs[(i+1)%n]
	}
	return first, second
}

func (be *backend) unavailable() error {
	return &NoEndpointsError{Namespace: be.namespace, Service: be.service, Reason: be.reason}
}
