package compose

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// Labels and annotations the converted objects carry. The label keys are
// docker compose's own, so tools that know compose projects find them.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"

	// AnnotationDependsOn holds a service's depends_on as JSON, on its
	// workload: what the dependency controller checks.
	AnnotationDependsOn = "compose.shoal.io/depends-on"
	// GateDependsOn is the scheduling gate on the pods of a service with
	// depends_on: the leader removes it from a pod once every dependency
	// holds.
	GateDependsOn = "compose.shoal.io/depends-on"
	// AnnotationRollbackConfig holds deploy.rollback_config as JSON.
	AnnotationRollbackConfig = "compose.shoal.io/rollback-config"
	// AnnotationLabels holds a service's container labels as JSON (compose
	// labels may be any text; annotation keys may not), on the pod template.
	AnnotationLabels = "compose.shoal.io/labels"
	// AnnotationDeployLabels holds deploy.labels as JSON, on the workload.
	AnnotationDeployLabels = "compose.shoal.io/deploy-labels"
	// AnnotationServiceName is the compose name of a service whose object
	// name had to change (`_` to `-`).
	AnnotationServiceName = "compose.shoal.io/service"
)

// Options tune the conversion.
type Options struct {
	// PodSecurity, when set, labels the project's namespace with that
	// Pod Security enforce level (bind mounts and added capabilities need
	// "privileged").
	PodSecurity string
}

// Issue is one thing of a project the conversion cannot honour.
type Issue struct {
	Service string // "" for a top-level key
	Key     string // the compose key, dotted
	Message string
	Refused bool // the project cannot be converted
}

func (i Issue) String() string {
	where := i.Key
	if i.Service != "" {
		where = fmt.Sprintf("service %q: %s", i.Service, i.Key)
	}
	return where + ": " + i.Message
}

// Result is a converted project.
type Result struct {
	Namespace string
	Objects   []api.Object
	Warnings  []Issue
	// NeedsPrivileged lists what of the project Pod Security's baseline
	// level (the cluster's default) refuses: bind mounts, privileged
	// containers, added capabilities, host namespaces, low host ports.
	NeedsPrivileged []string
}

// RefusedError lists every refused key of a project.
type RefusedError struct{ Issues []Issue }

func (e *RefusedError) Error() string {
	var b strings.Builder
	b.WriteString("compose: the project uses what shoal cannot honour:")
	for _, i := range e.Issues {
		b.WriteString("\n  ")
		b.WriteString(i.String())
	}
	return b.String()
}

// converter holds the state of one conversion.
type converter struct {
	p       *types.Project
	opts    Options
	ns      string
	issues  []Issue
	objects []api.Object
	// names maps compose service names to object names.
	names map[string]string
	// taken: object names of Services, to catch two aliases colliding.
	taken map[string]string
	// completes: services another waits on to complete successfully; they
	// run once, as compose runs a service without a restart policy.
	completes map[string]bool
	// privileged: what needs Pod Security level privileged.
	privileged []privilegeNeed
}

func (c *converter) warn(svc, key, format string, args ...any) {
	c.issues = append(c.issues, Issue{Service: svc, Key: key, Message: fmt.Sprintf(format, args...)})
}

func (c *converter) refuse(svc, key, format string, args ...any) {
	c.issues = append(c.issues, Issue{Service: svc, Key: key, Message: fmt.Sprintf(format, args...), Refused: true})
}

// Convert maps a loaded project onto shoal objects: its Namespace first,
// then ConfigMaps and Secrets, then the PersistentVolumeClaims of its
// named volumes, then per service (in name order) its
// workload and Services. A project with any refused key returns a
// *RefusedError naming each, and no objects.
func Convert(p *types.Project, opts Options) (*Result, error) {
	c := &converter{p: p, opts: opts, names: map[string]string{}, taken: map[string]string{}}
	c.ns = objectName(p.Name)
	if errs := api.IsDNS1123Label(c.ns); len(errs) > 0 {
		return nil, fmt.Errorf("compose: project name %q cannot name a namespace: %s; give one with -p", p.Name, strings.Join(errs, "; "))
	}
	switch c.ns {
	case "default", "shoal-system", "kube-system", "kube-public":
		// shoal-system is exempt from Pod Security, and down would delete
		// the namespace with whatever else lives there.
		return nil, fmt.Errorf("compose: project name %q names a namespace of the cluster; give another with -p", p.Name)
	}
	if p.Name != c.ns {
		c.warn("", "name", "project %q becomes namespace %q (namespace names are DNS labels)", p.Name, c.ns)
	}
	c.project()
	names := p.ServiceNames()
	sort.Strings(names)
	for _, n := range names {
		o := objectName(n)
		if errs := api.IsDNS1123Label(o); len(errs) > 0 {
			c.refuse(n, "name", "cannot name a Service (%s): rename the service", strings.Join(errs, "; "))
			continue
		}
		if prev, ok := c.taken[o]; ok {
			c.refuse(n, "name", "becomes %q, as service %q does: rename one", o, prev)
			continue
		}
		c.taken[o] = n
		c.names[n] = o
		if o != n {
			c.warn(n, "name", "is named %q in shoal (object names are DNS labels): other services must reach it by that name", o)
		}
	}
	c.completes = map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				c.completes[dep] = true
			}
		}
	}
	c.fileObjects()
	c.claims()
	for _, n := range names {
		if _, ok := c.names[n]; !ok {
			continue
		}
		svc := p.Services[n]
		c.service(&svc)
	}
	var refused []Issue
	var warnings []Issue
	for _, i := range c.issues {
		if i.Refused {
			refused = append(refused, i)
		} else {
			warnings = append(warnings, i)
		}
	}
	if len(refused) > 0 {
		return &Result{Namespace: c.ns, Warnings: warnings}, &RefusedError{Issues: refused}
	}
	if len(c.privileged) > 0 && c.opts.PodSecurity != "privileged" {
		warnings = append(warnings, Issue{Key: "pod security", Message: fmt.Sprintf("Pod Security level baseline (the cluster's default) refuses %s; "+
			"give --pod-security privileged to label the project's namespace for them", groupByService(c.privileged))})
	}
	var needs []string
	for _, n := range c.privileged {
		needs = append(needs, fmt.Sprintf("service %q: %s", n.service, n.what))
	}
	return &Result{Namespace: c.ns, Objects: c.objects, Warnings: warnings, NeedsPrivileged: needs}, nil
}

// objectName turns a compose name into an object name: compose allows
// `_` and upper case, Kubernetes names do not.
func objectName(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", "-"))
}

func (c *converter) meta(name, service string) api.ObjectMeta {
	m := api.ObjectMeta{Name: name, Namespace: c.ns, Labels: map[string]string{LabelProject: c.ns}}
	if service != "" {
		m.Labels[LabelService] = c.names[service]
		if c.names[service] != service {
			m.Annotations = map[string]string{AnnotationServiceName: service}
		}
	}
	return m
}

// project makes the namespace and reports the project-level keys.
func (c *converter) project() {
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: c.ns, Labels: map[string]string{LabelProject: c.ns}}}
	if c.opts.PodSecurity != "" {
		ns.Labels[api.LabelPodSecurityEnforce] = c.opts.PodSecurity
	}
	c.objects = append(c.objects, ns)
	if len(c.p.Jobs) > 0 {
		c.refuse("", "jobs", "top-level jobs are not supported yet")
	}
	if len(c.p.Models) > 0 {
		c.refuse("", "models", "models need Docker Model Runner")
	}
	var nets []string
	for _, name := range sortedKeys(c.p.Networks) {
		n := c.p.Networks[name]
		nets = append(nets, name)
		switch {
		case bool(n.External):
			c.warn("", "networks."+name+".external", "there is one pod network; external networks are not joined")
		case n.Ipam.Driver != "" || len(n.Ipam.Config) > 0:
			c.warn("", "networks."+name+".ipam", "pods get their addresses from the node's pod subnet")
		}
		if n.Internal {
			c.warn("", "networks."+name+".internal", "pods reach outside the cluster whatever the network says")
		}
	}
	if len(nets) > 1 {
		c.warn("", "networks", "the project's networks (%s) are one pod network in shoal: every service can reach every other", strings.Join(nets, ", "))
	}
	for _, name := range sortedKeys(c.p.Volumes) {
		v := c.p.Volumes[name]
		if v.Driver != "" && v.Driver != "local" {
			c.warn("", "volumes."+name+".driver", "named volumes are the engine's local volumes")
		}
		if len(v.DriverOpts) > 0 {
			c.warn("", "volumes."+name+".driver_opts", "named volumes are the engine's local volumes, made without options")
		}
		if bool(v.External) {
			c.warn("", "volumes."+name+".external", "an external volume is the engine volume shoal-pvc-%s-%s on each host, not %q", c.ns, objectName(volumeName(name, v)), v.Name)
		}
	}
}

func volumeName(key string, v types.VolumeConfig) string {
	if v.External && v.Name != "" {
		return v.Name
	}
	return key
}

// dependsOn is the JSON form of depends_on in the annotation.
type dependsOn struct {
	Service   string `json:"service"`
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
	Restart   bool   `json:"restart,omitempty"`
}

func marshalDependsOn(d types.DependsOnConfig, names map[string]string) string {
	var out []dependsOn
	for name, dep := range d {
		n := names[name]
		if n == "" {
			n = objectName(name)
		}
		cond := dep.Condition
		if cond == "" {
			cond = types.ServiceConditionStarted
		}
		out = append(out, dependsOn{Service: n, Condition: cond, Required: dep.Required, Restart: dep.Restart})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	b, _ := json.Marshal(out)
	return string(b)
}

// privilegeNeed is one thing of a service that baseline refuses.
type privilegeNeed struct{ service, what string }

// groupByService says what each service needs, one service after the
// other: "web (bind mount /srv, cap_add SYS_ADMIN); db (...)".
func groupByService(needs []privilegeNeed) string {
	var order []string
	by := map[string][]string{}
	for _, n := range needs {
		if _, ok := by[n.service]; !ok {
			order = append(order, n.service)
		}
		by[n.service] = append(by[n.service], n.what)
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("service %q (%s)", s, strings.Join(by[s], ", "))
	}
	return strings.Join(parts, "; ")
}
