package compose

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// Selected names the services `up SERVICE...` starts: the named ones and
// every service they depend on, as docker compose does; all services
// when none is named. The names are object names (what the label
// com.docker.compose.service holds).
func Selected(p *types.Project, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(names) == 0 {
		for n := range p.Services {
			out[objectName(n)] = true
		}
		return out, nil
	}
	for _, n := range names {
		if _, ok := p.Services[n]; !ok {
			if _, off := p.DisabledServices[n]; off {
				return nil, fmt.Errorf("compose: service %q is in a profile that is not enabled; give --profile", n)
			}
			return nil, fmt.Errorf("compose: no such service: %q (the project has %v)", n, serviceNames(p))
		}
	}
	err := p.ForEachService(names, func(name string, _ *types.ServiceConfig) error {
		out[objectName(name)] = true
		return nil
	}, types.IncludeDependencies)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return out, nil
}

// Disabled names (as object names) the services left out by profiles:
// `up` keeps what an earlier `up` made of them.
func Disabled(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for n := range p.DisabledServices {
		out[objectName(n)] = true
	}
	return out
}

func serviceNames(p *types.Project) []string {
	names := p.ServiceNames()
	sort.Strings(names)
	return names
}

// ServiceOf names the service an object belongs to, "" for the project's
// own objects (its namespace, configs and secrets).
func ServiceOf(obj api.Object) string {
	return obj.GetObjectMeta().Labels[LabelService]
}

// ServiceName is the compose name of a service's object (what the file
// calls it; object names turn `_` into `-`).
func ServiceName(obj api.Object) string {
	m := obj.GetObjectMeta()
	if n := m.Annotations[AnnotationServiceName]; n != "" {
		return n
	}
	return m.Labels[LabelService]
}

// DependenciesOf names the services a workload's depends_on annotation
// lists, in order.
func DependenciesOf(obj api.Object) []string {
	raw, ok := obj.GetObjectMeta().Annotations[AnnotationDependsOn]
	if !ok {
		return nil
	}
	var deps []dependsOn
	if json.Unmarshal([]byte(raw), &deps) != nil {
		return nil
	}
	out := make([]string, len(deps))
	for i, d := range deps {
		out[i] = d.Service
	}
	return out
}

// Namespace is the namespace a project of this name maps to (what
// Convert names it), for the verbs that need only the name (down, ps,
// logs with -p).
func Namespace(projectName string) string { return objectName(projectName) }

// RestartsWith names the services whose change restarts this workload's
// pods (depends_on with restart: true).
func RestartsWith(obj api.Object) []string {
	var deps []dependsOn
	if json.Unmarshal([]byte(obj.GetObjectMeta().Annotations[AnnotationDependsOn]), &deps) != nil {
		return nil
	}
	var out []string
	for _, d := range deps {
		if d.Restart {
			out = append(out, d.Service)
		}
	}
	return out
}
