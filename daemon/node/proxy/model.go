package proxy

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// servicePort is one port of one Service with its ready backends: the unit
// that gets one SVC chain.
type servicePort struct {
	name      string     // "ns/name:port", for comments and hashing
	proto     string     // "tcp", "udp" or "sctp"
	clusterIP netip.Addr // invalid: no cluster IP rules (not allocated yet)
	port      int32
	nodePort  int32 // 0: none
	// lbIPs are the addresses of status.loadBalancer.ingress of a
	// LoadBalancer Service (the nodes' addresses): traffic to them at the
	// service port takes the service, as kube-proxy does.
	lbIPs     []netip.Addr
	affinity  bool // sessionAffinity ClientIP
	endpoints []endpoint
}

// endpoint is one ready backend of a service port.
type endpoint struct {
	ip   netip.Addr
	port int32
}

func (e endpoint) String() string {
	return netip.AddrPortFrom(e.ip, uint16(e.port)).String()
}

// servicePorts flattens Services and their Endpoints into service ports,
// sorted by namespace, name and then the order of the ports in the spec, so
// that the same state always gives the same rules. Headless and ExternalName
// services have none: DNS serves them.
func servicePorts(services []*api.Service, endpoints []*api.Endpoints) []servicePort {
	eps := make(map[string]*api.Endpoints, len(endpoints))
	for _, e := range endpoints {
		if e != nil {
			eps[e.Namespace+"/"+e.Name] = e
		}
	}
	sorted := make([]*api.Service, 0, len(services))
	for _, s := range services {
		if s != nil {
			sorted = append(sorted, s)
		}
	}
	slices.SortFunc(sorted, func(a, b *api.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	var out []servicePort
	for _, s := range sorted {
		if s.Spec.Type == api.ServiceTypeExternalName || s.IsHeadless() {
			continue
		}
		vip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil || !vip.Is4() {
			vip = netip.Addr{}
		}
		withNodePorts := s.Spec.Type == api.ServiceTypeNodePort || s.Spec.Type == api.ServiceTypeLoadBalancer
		ep := eps[s.Namespace+"/"+s.Name]
		for _, p := range s.Spec.Ports {
			proto := protocol(p.Protocol)
			if proto == "" || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			sp := servicePort{
				name:      portName(s.Namespace, s.Name, p),
				proto:     proto,
				clusterIP: vip,
				port:      p.Port,
				affinity:  s.Spec.SessionAffinity == api.AffinityClientIP,
				endpoints: readyEndpoints(ep, p.Name, proto),
			}
			if withNodePorts && p.NodePort > 0 && p.NodePort <= 65535 {
				sp.nodePort = p.NodePort
			}
			if s.Spec.Type == api.ServiceTypeLoadBalancer {
				sp.lbIPs = loadBalancerIPs(s.Status.LoadBalancer)
			}
			if !sp.clusterIP.IsValid() && sp.nodePort == 0 {
				continue
			}
			out = append(out, sp)
		}
	}
	return out
}

// loadBalancerIPs are the IPv4 addresses of a load balancer's ingress,
// sorted, without duplicates.
func loadBalancerIPs(st api.LoadBalancerStatus) []netip.Addr {
	var out []netip.Addr
	for _, in := range st.Ingress {
		if ip, err := netip.ParseAddr(in.IP); err == nil && ip.Is4() && !ip.IsLoopback() && !ip.IsUnspecified() {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// portName names a service port as kube-proxy does: "ns/name:port", or
// "ns/name" for an unnamed port.
func portName(ns, name string, p api.ServicePort) string {
	if p.Name == "" {
		return ns + "/" + name
	}
	return ns + "/" + name + ":" + p.Name
}

// protocol is the iptables spelling of a port protocol, "" when unsupported.
func protocol(p string) string {
	switch strings.ToUpper(p) {
	case "", "TCP":
		return "tcp"
	case "UDP":
		return "udp"
	case "SCTP":
		return "sctp"
	}
	return ""
}

// readyEndpoints returns the ready backends of the endpoint port named like
// the service port, sorted and without duplicates. Not-ready addresses never
// take traffic.
func readyEndpoints(ep *api.Endpoints, name, proto string) []endpoint {
	if ep == nil {
		return nil
	}
	var out []endpoint
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			if p.Name != name || protocol(p.Protocol) != proto || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			for _, a := range ss.Addresses {
				ip, err := netip.ParseAddr(a.IP)
				if err != nil || !ip.Is4() {
					continue
				}
				out = append(out, endpoint{ip: ip, port: p.Port})
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(a.ip.Compare(b.ip), cmp.Compare(a.port, b.port))
	})
	return slices.Compact(out)
}
