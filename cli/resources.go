package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// allKinds is what `get all` shows, in kubectl's order; kinds shoal does not
// serve yet are skipped.
var allKinds = []string{"pods", "services", "daemonsets", "deployments", "replicasets", "statefulsets", "jobs"}

// lookupKind resolves a kind as a user types it: pods, pod, po, deploy,
// deployments.apps.
func lookupKind(name string) (*api.Kind, error) {
	if k, ok := api.LookupKind(name); ok {
		return k, nil
	}
	return nil, fmt.Errorf("the server doesn't have a resource type %q", name)
}

// target is one kind with the names asked for (none: the whole list).
type target struct {
	kind  *api.Kind
	names []string
}

// parseTargets reads `KIND [NAME...]`, `KIND1,KIND2 [NAME...]`, `all` or
// `KIND/NAME...`. Consecutive KIND/NAME arguments of one kind are grouped.
func parseTargets(args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource, such as pods, deployments or nodes")
	}
	if strings.Contains(args[0], "/") {
		return parseSlashTargets(args)
	}
	var out []target
	for _, name := range strings.Split(args[0], ",") {
		if name == "all" {
			out = append(out, expandAll()...)
			continue
		}
		k, err := lookupKind(name)
		if err != nil {
			return nil, err
		}
		out = append(out, target{kind: k})
	}
	for i := range out {
		out[i].names = args[1:]
	}
	return out, nil
}

func parseSlashTargets(args []string) ([]target, error) {
	var out []target
	for _, a := range args {
		kind, name, ok := strings.Cut(a, "/")
		if !ok || kind == "" || name == "" {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'shoal get pod/web' instead of 'shoal get pod web'): %q", a)
		}
		k, err := lookupKind(kind)
		if err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].kind == k {
			out[n-1].names = append(out[n-1].names, name)
			continue
		}
		out = append(out, target{kind: k, names: []string{name}})
	}
	return out, nil
}

func expandAll() []target {
	var out []target
	for _, name := range allKinds {
		if k, ok := api.LookupKind(name); ok {
			out = append(out, target{kind: k})
		}
	}
	return out
}

// resourcePrefix is how kubectl names a kind in messages: "pod",
// "deployment.apps".
func resourcePrefix(k *api.Kind) string {
	if k.Group == "" {
		return k.Singular
	}
	return k.Singular + "." + k.Group
}

// prefixForKind is resourcePrefix from a kind and apiVersion as the server
// reports them, for kinds this client may not know.
func prefixForKind(kind, apiVersion string) string {
	if k, err := api.KindFor(apiVersion, kind); err == nil {
		return resourcePrefix(k)
	}
	p := strings.ToLower(kind)
	if group, _, ok := strings.Cut(apiVersion, "/"); ok {
		p += "." + group
	}
	return p
}

// qualifiedName is "pod/web", "deployment.apps/web".
func qualifiedName(k *api.Kind, o api.Object) string {
	return resourcePrefix(k) + "/" + o.GetObjectMeta().Name
}

// kindOf returns the kind of a decoded object, which the client always fills.
func kindOf(o api.Object) (*api.Kind, error) {
	tm := o.GetTypeMeta()
	return api.KindFor(tm.APIVersion, tm.Kind)
}

// sortObjects orders by namespace then name, as the API lists them.
func sortObjects(objs []api.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i].GetObjectMeta(), objs[j].GetObjectMeta()
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

// replicas is a workload's spec.replicas, 1 when unset as the server
// defaults it.
func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// podTemplateOf returns the pod template of a workload, or nil for kinds
// without one.
func podTemplateOf(o api.Object) *api.PodTemplateSpec {
	switch w := o.(type) {
	case *api.Deployment:
		return &w.Spec.Template
	case *api.ReplicaSet:
		return &w.Spec.Template
	case *api.ReplicationController:
		return w.Spec.Template
	case *api.DaemonSet:
		return &w.Spec.Template
	case *api.Job:
		return &w.Spec.Template
	}
	return nil
}

// containerNames lists a template's containers, init containers first, for
// messages.
func containerNames(t *api.PodTemplateSpec) string {
	var names []string
	for _, c := range t.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range t.Spec.Containers {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}
