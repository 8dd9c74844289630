package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// services makes the Services of a compose service: one per name it
// resolves by (its own, its network aliases, its container_name, the
// aliases other services link it by), and one NodePort Service for the
// ports it publishes on every host.
func (c *converter) services(s *types.ServiceConfig, name string) {
	selector := map[string]string{LabelProject: c.ns, LabelService: name}
	vip := false
	if s.Deploy != nil {
		switch s.Deploy.EndpointMode {
		case "", "dnsrr":
		case "vip":
			vip = true
		default:
			c.refuse(s.Name, "deploy.endpoint_mode", "%q: use vip or dnsrr", s.Deploy.EndpointMode)
		}
	}
	var ports []api.ServicePort
	if vip {
		ports = servicePorts(s)
		if len(ports) == 0 {
			c.warn(s.Name, "deploy.endpoint_mode", "vip needs ports (`expose` or `ports`); the name resolves to the pods' addresses instead")
			vip = false
		}
	}
	spec := api.ServiceSpec{Selector: selector}
	if vip {
		spec.Ports = ports
	} else {
		spec.ClusterIP = api.ClusterIPNone
	}
	var names []string
	ownName := len(s.Networks) == 0
	for _, n := range s.Networks {
		if n.ServiceNameAliasEnabled() {
			ownName = true
		}
	}
	if ownName {
		names = append(names, name)
	}
	aliasKey := map[string]string{}
	for _, net := range sortedKeys(s.Networks) {
		if n := s.Networks[net]; n != nil {
			for _, a := range n.Aliases {
				names = append(names, a)
				aliasKey[a] = "networks." + net + ".aliases"
			}
		}
	}
	if s.ContainerName != "" {
		names = append(names, s.ContainerName)
		aliasKey[s.ContainerName] = "container_name"
	}
	for _, other := range sortedKeys(c.p.Services) {
		for _, l := range c.p.Services[other].Links {
			target, alias, ok := strings.Cut(l, ":")
			if ok && target == s.Name && alias != target {
				names = append(names, alias)
				aliasKey[alias] = "links"
			}
		}
	}
	done := map[string]bool{}
	for _, n := range names {
		obj := objectName(n)
		if done[obj] {
			continue
		}
		done[obj] = true
		if obj != name {
			key := aliasKey[n]
			if errs := api.IsDNS1123Label(obj); len(errs) > 0 {
				c.warn(s.Name, key, "%q does not resolve: %s", n, strings.Join(errs, "; "))
				continue
			}
			if prev, ok := c.taken[obj]; ok {
				c.warn(s.Name, key, "%q does not resolve to this service: it names %s", n, prev)
				continue
			}
			c.taken[obj] = s.Name
		}
		svc := &api.Service{ObjectMeta: c.meta(obj, s.Name), Spec: spec}
		svc.Spec.Selector = selector
		c.objects = append(c.objects, svc)
	}
	c.publish(s, name, selector)
}

// servicePorts lists the ports of a vip Service: exposed and published
// container ports, each named.
func servicePorts(s *types.ServiceConfig) []api.ServicePort {
	seen := map[string]bool{}
	var out []api.ServicePort
	add := func(port int32, proto string) {
		k := fmt.Sprintf("%d/%s", port, proto)
		if seen[k] || port < 1 {
			return
		}
		seen[k] = true
		out = append(out, api.ServicePort{Name: fmt.Sprintf("%s-%d", strings.ToLower(proto), port), Protocol: proto, Port: port, TargetPort: api.FromInt(port)})
	}
	for _, e := range s.Expose {
		p, proto, _ := strings.Cut(e, "/")
		var n int32
		if _, err := fmt.Sscanf(p, "%d", &n); err == nil && !strings.Contains(p, "-") {
			add(n, protocol(proto))
		}
	}
	for _, p := range s.Ports {
		add(int32(p.Target), protocol(p.Protocol))
	}
	return out
}

// publish makes the NodePort Service `<service>-published` for the ports
// published on every host (Swarm's routing mesh).
func (c *converter) publish(s *types.ServiceConfig, name string, selector map[string]string) {
	var ports []api.ServicePort
	seen := map[string]bool{}
	for _, p := range s.Ports {
		n, nodePort, err := published(p)
		if err != nil || !nodePort {
			continue
		}
		proto := protocol(p.Protocol)
		k := fmt.Sprintf("%d/%s", n, proto)
		if seen[k] {
			continue
		}
		seen[k] = true
		ports = append(ports, api.ServicePort{Name: fmt.Sprintf("%s-%d", strings.ToLower(proto), n), Protocol: proto,
			Port: n, TargetPort: api.FromInt(int32(p.Target)), NodePort: n})
	}
	if len(ports) == 0 {
		return
	}
	obj := name + "-published"
	if len(obj) > 63 {
		c.refuse(s.Name, "ports", "the service's name is too long for the Service %q that publishes its ports", obj)
		return
	}
	if prev, ok := c.taken[obj]; ok {
		c.refuse(s.Name, "ports", "the Service %q that publishes its ports would take the name of %s", obj, prev)
		return
	}
	c.taken[obj] = s.Name
	c.objects = append(c.objects, &api.Service{ObjectMeta: c.meta(obj, s.Name),
		Spec: api.ServiceSpec{Type: api.ServiceTypeNodePort, Selector: selector, Ports: ports}})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
