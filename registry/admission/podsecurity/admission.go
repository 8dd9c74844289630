package podsecurity

import (
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry"
)

// View is what admission reads of the state a write joins (registry.TxnView
// in the agent) and how it warns the writer.
type View interface {
	Get(k *api.Kind, ns, name string) api.Object
	List(k *api.Kind) []api.Object
	Warn(msg string)
}

// Admission enforces the levels on writes of Pods and of the pod templates
// of Deployments, ReplicaSets, DaemonSets, StatefulSets and Jobs.
type Admission struct {
	def Level
	log *slog.Logger
}

// New makes the admission step; def is the level of namespaces without an
// enforce label (the agent's --pod-security-default).
func New(def Level, log *slog.Logger) *Admission {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Admission{def: def, log: log.With("component", "pod-security")}
}

// Admit is the registry.Admission of the agent's object store.
func (a *Admission) Admit(v *registry.TxnView, old, obj api.Object) error {
	return a.Check(v, old, obj)
}

// Check refuses obj (403) if its pod spec breaks its namespace's enforce
// level, warns about what breaks the warn level, and logs what breaks the
// audit level. Updates that leave the pod spec as it was pass, so that
// relabelling a namespace never blocks the running pods' own updates
// (binding, status, deletion), as in Kubernetes.
func (a *Admission) Check(v View, old, obj api.Object) error {
	if ns, ok := obj.(*api.Namespace); ok {
		return a.checkNamespace(v, old, ns)
	}
	spec, prefix := podSpecOf(obj)
	if spec == nil {
		return nil
	}
	if old != nil && !significantChange(old, obj) {
		return nil
	}
	m := obj.GetObjectMeta()
	if m.Namespace == ExemptNamespace {
		return nil
	}
	ns, _ := v.Get(api.KindNamespace, "", m.Namespace).(*api.Namespace)
	p := policyFor(ns, a.def)
	k := api.KindOf(obj)
	if p.enforce > Privileged {
		if vs := Check(p.enforce, spec, prefix); len(vs) > 0 {
			return forbidden(k, m, p, vs)
		}
	}
	if p.warn != nil && *p.warn > p.enforce {
		for _, viol := range Check(*p.warn, spec, prefix) {
			v.Warn(fmt.Sprintf("%s %q would violate PodSecurity %q: %s", resource(k), m.Name, *p.warn, viol))
		}
	}
	if p.audit != nil && *p.audit > Privileged {
		if vs := Check(*p.audit, spec, prefix); len(vs) > 0 {
			a.log.Info("pod security audit: the object violates the namespace's audit level", "kind", k.Kind,
				"namespace", m.Namespace, "name", m.Name, "level", p.audit.String(), "violations", joinViolations(vs))
		}
	}
	return nil
}

// podSpecOf returns the pod spec an object runs and the path it sits at.
func podSpecOf(obj api.Object) (*api.PodSpec, string) {
	switch o := obj.(type) {
	case *api.Pod:
		return &o.Spec, "spec"
	case *api.Deployment:
		return &o.Spec.Template.Spec, "spec.template.spec"
	case *api.ReplicaSet:
		return &o.Spec.Template.Spec, "spec.template.spec"
	case *api.ReplicationController:
		if o.Spec.Template == nil {
			return nil, ""
		}
		return &o.Spec.Template.Spec, "spec.template.spec"
	case *api.DaemonSet:
		return &o.Spec.Template.Spec, "spec.template.spec"
	case *api.StatefulSet:
		return &o.Spec.Template.Spec, "spec.template.spec"
	case *api.Job:
		return &o.Spec.Template.Spec, "spec.template.spec"
	}
	return nil, ""
}

// significantChange reports whether an update changes what the levels
// judge. For a Pod, its node binding and container images do not count
// (Kubernetes' rule); for a workload any change of the template does.
func significantChange(old, cur api.Object) bool {
	a, _ := podSpecOf(old)
	b, _ := podSpecOf(cur)
	if a == nil || b == nil {
		return true
	}
	if _, isPod := cur.(*api.Pod); !isPod {
		return !reflect.DeepEqual(a, b)
	}
	return !reflect.DeepEqual(comparable(a), comparable(b))
}

func comparable(s *api.PodSpec) api.PodSpec {
	c := *s
	c.NodeName = ""
	c.InitContainers = withoutImages(s.InitContainers)
	c.Containers = withoutImages(s.Containers)
	return c
}

func withoutImages(cs []api.Container) []api.Container {
	out := make([]api.Container, len(cs))
	for i, c := range cs {
		c.Image = ""
		out[i] = c
	}
	return out
}

func resource(k *api.Kind) string {
	if k.Group != "" {
		return k.Resource + "." + k.Group
	}
	return k.Resource
}

func joinViolations(vs []Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, "; ")
}

// forbidden builds the refusal: the object, the level and where it comes
// from, every violating field, and how to allow it.
func forbidden(k *api.Kind, m *api.ObjectMeta, p policy, vs []Violation) error {
	source := fmt.Sprintf("the enforce level of namespace %q", m.Namespace)
	if p.fromDefault {
		source = fmt.Sprintf("the cluster default (--pod-security-default), namespace %q has no %s label", m.Namespace, api.LabelPodSecurityEnforce)
	}
	allow := Privileged
	if p.enforce == Restricted && !anyBaseline(vs) {
		allow = Baseline
	}
	causes := make([]api.StatusCause, len(vs))
	for i, v := range vs {
		causes[i] = api.StatusCause{Type: api.ErrTypeForbidden, Field: v.Field, Message: v.Detail}
	}
	msg := fmt.Sprintf("%s %q is forbidden: violates PodSecurity \"%s:latest\" (%s): %s. "+
		"To allow it, label the namespace %s=%s (metadata.labels of Namespace %q, then shoal apply), or change the fields named",
		resource(k), m.Name, p.enforce, source, joinViolations(vs), api.LabelPodSecurityEnforce, allow, m.Namespace)
	return api.NewForbidden(k, m.Name, msg, causes)
}

// anyBaseline reports whether some violation is of a baseline check, so
// that only privileged would allow the object.
func anyBaseline(vs []Violation) bool {
	for _, v := range vs {
		for _, c := range checks {
			if c.name == v.Check && c.level == Baseline {
				return true
			}
		}
	}
	return false
}

// maxPodWarnings bounds the warnings of one namespace relabelling.
const maxPodWarnings = 10

// checkNamespace validates the Pod Security labels and, when a namespace's
// enforce level changes, warns about the pods already in it that the new
// level would refuse. Running pods are left alone, as in Kubernetes.
func (a *Admission) checkNamespace(v View, old api.Object, ns *api.Namespace) error {
	if errs := validateLabels(ns.Labels); len(errs) > 0 {
		return api.NewInvalid(api.KindNamespace, ns.Name, errs)
	}
	oldNS, _ := old.(*api.Namespace)
	if oldNS == nil || ns.Name == ExemptNamespace {
		return nil
	}
	before, after := policyFor(oldNS, a.def).enforce, policyFor(ns, a.def).enforce
	if after <= before {
		return nil
	}
	var offenders []string
	for _, o := range v.List(api.KindPod) {
		pod := o.(*api.Pod)
		if pod.Namespace != ns.Name || api.IsPodTerminal(pod) {
			continue
		}
		if vs := Check(after, &pod.Spec, "spec"); len(vs) > 0 {
			offenders = append(offenders, fmt.Sprintf("%s: %s", pod.Name, joinViolations(vs)))
		}
	}
	sort.Strings(offenders)
	if len(offenders) > 0 {
		v.Warn(fmt.Sprintf("existing pods in namespace %q violate the new PodSecurity enforce level \"%s:latest\"; they keep running, but could not be created again",
			ns.Name, after))
	}
	for i, o := range offenders {
		if i == maxPodWarnings {
			v.Warn(fmt.Sprintf("and %d more pods", len(offenders)-maxPodWarnings))
			break
		}
		v.Warn(o)
	}
	return nil
}
