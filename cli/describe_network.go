package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

// service writes a Service as kubectl describe does, each port with the
// ready backends behind it, read from the Endpoints of the same name.
func (d *describer) service(s *api.Service) error {
	ep, err := d.endpointsOf(s.Namespace, s.Name)
	if err != nil {
		return err
	}
	d.line(0, "Name", s.Name)
	d.line(0, "Namespace", s.Namespace)
	d.labels(0, "Labels", s.Labels)
	d.labels(0, "Annotations", s.Annotations)
	d.line(0, "Selector", printers.LabelsString(s.Spec.Selector))
	d.line(0, "Type", printers.ServiceType(s))
	// shoal services are IPv4 only, so kubectl's IP family lines would
	// say nothing.
	d.line(0, "IP", s.Spec.ClusterIP)
	if ips := s.Spec.ClusterIPs; len(ips) > 0 {
		d.line(0, "IPs", strings.Join(ips, ","))
	} else if s.Spec.ClusterIP != "" {
		d.line(0, "IPs", s.Spec.ClusterIP)
	}
	if s.Spec.ExternalName != "" {
		d.line(0, "External Name", s.Spec.ExternalName)
	}
	if lb := s.Status.LoadBalancer.Ingress; len(lb) > 0 {
		d.line(0, "LoadBalancer Ingress", lbIngressString(lb))
	}
	for _, p := range s.Spec.Ports {
		name := p.Name
		if name == "" {
			name = "<unset>"
		}
		proto := printers.Protocol(p.Protocol)
		d.text(0, "Port:\t%s\t%d/%s", name, p.Port, proto)
		d.line(0, "TargetPort", p.TargetPort.String()+"/"+proto)
		if p.NodePort != 0 {
			d.text(0, "NodePort:\t%s\t%d/%s", name, p.NodePort, proto)
		}
		d.line(0, "Endpoints", endpointsOfPort(ep, p.Name))
	}
	affinity := s.Spec.SessionAffinity
	if affinity == "" {
		affinity = api.AffinityNone
	}
	d.line(0, "Session Affinity", affinity)
	if s.Spec.ExternalTrafficPolicy != "" {
		d.line(0, "External Traffic Policy", s.Spec.ExternalTrafficPolicy)
	}
	return nil
}

// endpointsOf reads the Endpoints of a service; nil when there are none yet.
func (d *describer) endpointsOf(ns, name string) (*api.Endpoints, error) {
	ep, err := client.GetAs[api.Endpoints](d.ctx, d.c, ns, name)
	if api.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the endpoints of service %s: %w", name, err)
	}
	return ep, nil
}

// endpointsOfPort is the ready backends of one named service port.
func endpointsOfPort(ep *api.Endpoints, portName string) string {
	if ep == nil {
		return "<none>"
	}
	return printers.FormatEndpoints(ep, &portName)
}

func lbIngressString(lb []api.LoadBalancerIngress) string {
	parts := make([]string, len(lb))
	for i, in := range lb {
		parts[i] = in.IP
		if parts[i] == "" {
			parts[i] = in.Hostname
		}
	}
	return strings.Join(parts, ", ")
}

// endpoints writes an Endpoints object subset by subset, as kubectl does.
func (d *describer) endpoints(ep *api.Endpoints) {
	d.line(0, "Name", ep.Name)
	d.line(0, "Namespace", ep.Namespace)
	d.labels(0, "Labels", ep.Labels)
	d.labels(0, "Annotations", ep.Annotations)
	d.text(0, "Subsets:")
	ips := func(as []api.EndpointAddress) string {
		list := make([]string, len(as))
		for i, a := range as {
			list[i] = a.IP
		}
		return printers.OrNone(strings.Join(list, ","))
	}
	for _, ss := range ep.Subsets {
		d.line(1, "Addresses", ips(ss.Addresses))
		d.line(1, "NotReadyAddresses", ips(ss.NotReadyAddresses))
		if len(ss.Ports) > 0 {
			d.text(1, "Ports:")
			d.text(2, "Name\tPort\tProtocol")
			d.text(2, "----\t----\t--------")
			for _, p := range ss.Ports {
				name := p.Name
				if name == "" {
					name = "<unset>"
				}
				d.text(2, "%s\t%d\t%s", name, p.Port, printers.Protocol(p.Protocol))
			}
		}
		d.text(0, "")
	}
}

// ingress writes an Ingress as kubectl describe does: its rules as a table
// of host, path and backend, each backend with its ready endpoints.
func (d *describer) ingress(in *api.Ingress) {
	d.line(0, "Name", in.Name)
	d.labels(0, "Labels", in.Labels)
	d.line(0, "Namespace", in.Namespace)
	d.line(0, "Address", printers.LoadBalancerString(in.Status.LoadBalancer, true))
	d.line(0, "Ingress Class", printers.IngressClass(in))
	b := &backendDescriber{d: d, ns: in.Namespace, services: map[string]*api.Service{}, endpoints: map[string]*api.Endpoints{},
		failures: map[string]string{}}
	def := in.Spec.DefaultBackend
	if def == nil {
		d.line(0, "Default backend", "<default>")
	} else {
		d.line(0, "Default backend", b.describe(def))
	}
	if len(in.Spec.TLS) > 0 {
		d.text(0, "TLS:")
		for _, t := range in.Spec.TLS {
			if t.SecretName == "" {
				d.text(1, "SNI routes %s", strings.Join(t.Hosts, ","))
			} else {
				d.text(1, "%s terminates %s", t.SecretName, strings.Join(t.Hosts, ","))
			}
		}
	}
	d.text(0, "Rules:")
	d.text(1, "Host\tPath\tBackends")
	d.text(1, "----\t----\t--------")
	rules := 0
	for _, r := range in.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		rules++
		host := r.Host
		if host == "" {
			host = "*"
		}
		d.text(1, "%s\t", host)
		for _, p := range r.HTTP.Paths {
			d.text(2, "\t%s \t%s", p.Path, b.describe(&p.Backend))
		}
	}
	if rules == 0 && def != nil {
		d.text(1, "*\t*\t%s", b.describe(def))
	}
	d.labels(0, "Annotations", in.Annotations)
}

// backendDescriber renders ingress backends, reading each service and its
// endpoints once, even when that fails.
type backendDescriber struct {
	d         *describer
	ns        string
	services  map[string]*api.Service
	endpoints map[string]*api.Endpoints
	failures  map[string]string
}

// describe is "web:80 (10.244.1.2:8080,10.244.2.3:8080)". A service or
// endpoints that cannot be read shows as kubectl's "<error: ...>" in the
// parentheses: the rest of the ingress is still worth seeing.
func (b *backendDescriber) describe(be *api.IngressBackend) string {
	sb := be.Service
	if sb == nil {
		return "<none>"
	}
	port := sb.Port.Name
	if sb.Port.Number != 0 {
		port = strconv.Itoa(int(sb.Port.Number))
	}
	name := sb.Name + ":" + port
	svc, ep, failure := b.read(sb.Name)
	if failure != "" {
		return name + " (<error: " + failure + ">)"
	}
	portName := ""
	for _, p := range svc.Spec.Ports {
		if (sb.Port.Number != 0 && sb.Port.Number == p.Port) || (sb.Port.Name != "" && sb.Port.Name == p.Name) {
			portName = p.Name
		}
	}
	return name + " (" + printers.FormatEndpoints(ep, &portName) + ")"
}

// read returns a backend service and its endpoints, or why they could not
// be read, as kubectl reads them: the endpoints first.
func (b *backendDescriber) read(name string) (*api.Service, *api.Endpoints, string) {
	if f, failed := b.failures[name]; failed {
		return nil, nil, f
	}
	if svc, ok := b.services[name]; ok {
		return svc, b.endpoints[name], ""
	}
	ep, err := client.GetAs[api.Endpoints](b.d.ctx, b.d.c, b.ns, name)
	var svc *api.Service
	if err == nil {
		svc, err = client.GetAs[api.Service](b.d.ctx, b.d.c, b.ns, name)
	}
	if err != nil {
		b.failures[name] = oneLine(err.Error())
		return nil, nil, b.failures[name]
	}
	b.services[name], b.endpoints[name] = svc, ep
	return svc, ep, ""
}
