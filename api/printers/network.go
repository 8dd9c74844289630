package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// loadBalancerWidth is how much of a load balancer's addresses kubectl shows
// outside -o wide.
const loadBalancerWidth = 16

// maxEndpoints is how many backends a cell lists before "+ N more...", and
// maxHosts how many hosts of an ingress, as in kubectl.
const (
	maxEndpoints = 3
	maxHosts     = 4
)

func serviceRow(o api.Object, now time.Time, opts *Options) []string {
	s, ok := o.(*api.Service)
	if !ok {
		return []string{"", "", "", "", ""}
	}
	return []string{ServiceType(s), OrNone(ClusterIP(s)), externalIP(s, opts.Wide), OrNone(ServicePorts(s.Spec.Ports)),
		Age(s.CreationTimestamp, now)}
}

func serviceWide(o api.Object) []string {
	s, ok := o.(*api.Service)
	if !ok {
		return []string{""}
	}
	return []string{LabelsString(s.Spec.Selector)}
}

// ServiceType is the type as stored; a service the server has not
// defaulted is a ClusterIP one.
func ServiceType(s *api.Service) string {
	if s.Spec.Type == "" {
		return api.ServiceTypeClusterIP
	}
	return s.Spec.Type
}

// ClusterIP is the first of spec.clusterIPs, as kubectl shows it; "None"
// for a headless service, "" for one without an address (yet).
func ClusterIP(s *api.Service) string {
	if len(s.Spec.ClusterIPs) > 0 {
		return s.Spec.ClusterIPs[0]
	}
	return s.Spec.ClusterIP
}

// externalIP is kubectl's EXTERNAL-IP: the external name of an ExternalName
// service, the load balancer's addresses (<pending> until it has some),
// <none> otherwise.
func externalIP(s *api.Service, wide bool) string {
	switch ServiceType(s) {
	case api.ServiceTypeClusterIP, api.ServiceTypeNodePort:
		return "<none>"
	case api.ServiceTypeLoadBalancer:
		if lb := LoadBalancerString(s.Status.LoadBalancer, wide); lb != "" {
			return lb
		}
		return "<pending>"
	case api.ServiceTypeExternalName:
		return s.Spec.ExternalName
	}
	return "<unknown>"
}

// LoadBalancerString joins the sorted, distinct addresses of a load
// balancer; outside -o wide it is cut to kubectl's width.
func LoadBalancerString(st api.LoadBalancerStatus, wide bool) string {
	seen := map[string]bool{}
	var addrs []string
	for _, in := range st.Ingress {
		a := in.IP
		if a == "" {
			a = in.Hostname
		}
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	r := strings.Join(addrs, ",")
	if !wide && len(r) > loadBalancerWidth {
		r = r[:loadBalancerWidth-3] + "..."
	}
	return r
}

// ServicePorts is the PORT(S) column: 80/TCP, 80:30080/TCP, 53/UDP,53/TCP.
func ServicePorts(ports []api.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, Protocol(p.Protocol))
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, Protocol(p.Protocol))
		}
	}
	return strings.Join(parts, ",")
}

// Protocol is TCP when none is given, as the server defaults it.
func Protocol(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

func endpointsRow(o api.Object, now time.Time, _ *Options) []string {
	ep, ok := o.(*api.Endpoints)
	if !ok {
		return []string{"", ""}
	}
	return []string{FormatEndpoints(ep, nil), Age(ep.CreationTimestamp, now)}
}

// FormatEndpoints lists the ready backends as ip:port, the first three and
// "+ N more...", as kubectl does. With portName set, only that port of the
// subsets counts (describe's Endpoints line of one service port). Unlike
// kubectl, which leaves the cell blank when every backend is not ready,
// this says <none>: a blank cell breaks scripts that split on spaces.
func FormatEndpoints(ep *api.Endpoints, portName *string) string {
	var list []string
	count := 0
	add := func(s string) {
		if len(list) < maxEndpoints {
			list = append(list, s)
		}
		count++
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// A headless service may have no ports: addresses alone.
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			if portName != nil && p.Name != *portName {
				continue
			}
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	if count == 0 {
		return "<none>"
	}
	s := strings.Join(list, ",")
	if count > maxEndpoints {
		s += fmt.Sprintf(" + %d more...", count-maxEndpoints)
	}
	return s
}

func ingressRow(o api.Object, now time.Time, opts *Options) []string {
	in, ok := o.(*api.Ingress)
	if !ok {
		return []string{"", "", "", "", ""}
	}
	return []string{IngressClass(in), IngressHosts(in.Spec.Rules), LoadBalancerString(in.Status.LoadBalancer, opts.Wide),
		ingressPorts(in), Age(in.CreationTimestamp, now)}
}

func IngressClass(in *api.Ingress) string {
	if c := in.Spec.IngressClassName; c != nil {
		return *c
	}
	return "<none>"
}

// IngressHosts is kubectl's HOSTS: up to four hosts, "+ N more..." after
// them, "*" when no rule names a host.
func IngressHosts(rules []api.IngressRule) string {
	var list []string
	more := false
	for _, r := range rules {
		if len(list) == maxHosts {
			more = true // a rule past the fourth host, with a host or not
			break
		}
		if r.Host != "" {
			list = append(list, r.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	s := strings.Join(list, ",")
	if more {
		s += fmt.Sprintf(" + %d more...", len(rules)-maxHosts)
	}
	return s
}

// ingressPorts is what the ingress listens on: 80, and 443 with TLS.
func ingressPorts(in *api.Ingress) string {
	if len(in.Spec.TLS) > 0 {
		return "80, 443"
	}
	return "80"
}
