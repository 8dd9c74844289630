package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Snapshot is the part of the cluster state the DNS answers from, and
// the Nodes, whose addresses may have other names resolved.
type Snapshot struct {
	Services  []*api.Service
	Endpoints []*api.Endpoints
	Pods      []*api.Pod
	Nodes     []*api.Node
}

// The builder works on small values reduced from the objects, as CoreDNS's
// object.ToService does: only what names records, so a pod's status churn
// (restarts, conditions) compares equal and causes no rebuild.

type svcKind uint8

const (
	svcClusterIP svcKind = iota
	svcHeadless
	svcExternal
)

type service struct {
	ns, name        string
	kind            svcKind
	ips             []netip.Addr // sorted
	external        string       // absolute lower-case target of an ExternalName
	ports           []port       // sorted
	publishNotReady bool
}

type port struct {
	name  string // "" when unnamed
	proto string // "tcp", "udp", "sctp"
	port  uint16
}

type endpoints struct {
	ns, name string
	subsets  []subset
}

type subset struct {
	ready, notReady []address // sorted
	ports           []port    // sorted
}

type address struct {
	ip       netip.Addr
	hostname string // "" when the address has none
}

type pod struct {
	ns, name string
	ips      []netip.Addr // sorted
}

func key(ns, name string) string { return ns + "/" + name }

// reduceService keeps what names records, or reports a service that serves
// no names (invalid name or namespace).
func reduceService(s *api.Service) (service, bool) {
	if s == nil || !isLabel(s.Name) || !isLabel(s.Namespace) {
		return service{}, false
	}
	out := service{ns: s.Namespace, name: s.Name, publishNotReady: s.Spec.PublishNotReadyAddresses}
	switch {
	case s.Spec.Type == api.ServiceTypeExternalName:
		out.kind = svcExternal
		out.external = externalTarget(s.Spec.ExternalName)
	case s.Spec.ClusterIP == api.ClusterIPNone:
		out.kind = svcHeadless
	default:
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, ok := parseIP(ip); ok {
				out.ips = append(out.ips, a)
			}
		}
		slices.SortFunc(out.ips, netip.Addr.Compare)
		out.ips = slices.Compact(out.ips)
	}
	for _, p := range s.Spec.Ports {
		if rp, ok := reducePort(p.Name, p.Protocol, p.Port); ok {
			out.ports = append(out.ports, rp)
		}
	}
	sortPorts(&out.ports)
	return out, true
}

// externalTarget is the absolute lower-case CNAME target of an ExternalName,
// or "" for one the zone cannot serve: an address, or a name that is not a
// plain host name (the API refuses anything but a DNS-1123 subdomain, but a
// record may come from an older agent or a peer that did not check; an
// escape such as "\\" would make a CNAME that cannot be packed).
func externalTarget(name string) string {
	t := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if t == "" || strings.HasPrefix(t, ".") {
		return ""
	}
	if _, isIP := parseIP(t); isIP {
		return ""
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return ""
		}
	}
	t += "."
	if !packableName(t) {
		return ""
	}
	return t
}

func reducePort(name, proto string, num int32) (port, bool) {
	if num <= 0 || num > 65535 {
		return port{}, false
	}
	if proto == "" {
		proto = "TCP"
	}
	p := port{proto: strings.ToLower(proto), port: uint16(num)}
	if !isLabel(p.proto) {
		return port{}, false
	}
	if isLabel(name) {
		p.name = name
	}
	return p, true
}

func sortPorts(ps *[]port) {
	slices.SortFunc(*ps, func(a, b port) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port))
	})
	*ps = slices.Compact(*ps)
}

func reduceEndpoints(e *api.Endpoints) (endpoints, bool) {
	if e == nil || !isLabel(e.Name) || !isLabel(e.Namespace) {
		return endpoints{}, false
	}
	out := endpoints{ns: e.Namespace, name: e.Name}
	for _, ss := range e.Subsets {
		var sub subset
		sub.ready = reduceAddresses(ss.Addresses)
		sub.notReady = reduceAddresses(ss.NotReadyAddresses)
		for _, p := range ss.Ports {
			if rp, ok := reducePort(p.Name, p.Protocol, p.Port); ok {
				sub.ports = append(sub.ports, rp)
			}
		}
		sortPorts(&sub.ports)
		if len(sub.ready)+len(sub.notReady) > 0 {
			out.subsets = append(out.subsets, sub)
		}
	}
	return out, true
}

func reduceAddresses(as []api.EndpointAddress) []address {
	var out []address
	for _, a := range as {
		ip, ok := parseIP(a.IP)
		if !ok {
			continue
		}
		ra := address{ip: ip}
		if isLabel(a.Hostname) {
			ra.hostname = a.Hostname
		}
		out = append(out, ra)
	}
	slices.SortFunc(out, func(a, b address) int {
		return cmp.Or(a.ip.Compare(b.ip), cmp.Compare(a.hostname, b.hostname))
	})
	return slices.Compact(out)
}

// reducePod keeps a pod's own addresses. Host-network pods are left out
// (their address is the node's), and so are finished pods, whose address
// may already belong to a new pod.
func reducePod(p *api.Pod) (pod, bool) {
	if p == nil || !isLabel(p.Namespace) || p.Spec.HostNetwork || api.IsPodTerminal(p) {
		return pod{}, false
	}
	out := pod{ns: p.Namespace, name: p.Name}
	ips := []string{p.Status.PodIP}
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, ip := range ips {
		if a, ok := parseIP(ip); ok {
			out.ips = append(out.ips, a)
		}
	}
	if len(out.ips) == 0 {
		return pod{}, false
	}
	slices.SortFunc(out.ips, netip.Addr.Compare)
	out.ips = slices.Compact(out.ips)
	return out, true
}

func (a service) equal(b service) bool {
	return a.ns == b.ns && a.name == b.name && a.kind == b.kind && a.external == b.external &&
		a.publishNotReady == b.publishNotReady && slices.Equal(a.ips, b.ips) && slices.Equal(a.ports, b.ports)
}

func (a endpoints) equal(b endpoints) bool {
	return a.ns == b.ns && a.name == b.name && slices.EqualFunc(a.subsets, b.subsets, func(x, y subset) bool {
		return slices.Equal(x.ready, y.ready) && slices.Equal(x.notReady, y.notReady) && slices.Equal(x.ports, y.ports)
	})
}

func (a pod) equal(b pod) bool {
	return a.ns == b.ns && a.name == b.name && slices.Equal(a.ips, b.ips)
}

// objects is the reduced cluster state the zone is built from.
type objects struct {
	services  []service
	endpoints map[string]endpoints // by ns/name, for the service of the same name
	pods      []pod
}

func reduceSnapshot(s Snapshot) objects {
	o := objects{endpoints: map[string]endpoints{}}
	for _, svc := range s.Services {
		if r, ok := reduceService(svc); ok {
			o.services = append(o.services, r)
		}
	}
	for _, ep := range s.Endpoints {
		if r, ok := reduceEndpoints(ep); ok {
			o.endpoints[key(r.ns, r.name)] = r
		}
	}
	for _, p := range s.Pods {
		if r, ok := reducePod(p); ok {
			o.pods = append(o.pods, r)
		}
	}
	return o
}

// nodeAddrs are the IP addresses of a Node's status (host names left out),
// sorted.
func nodeAddrs(n *api.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range n.Status.Addresses {
		if ip, ok := parseIP(a.Address); ok {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
