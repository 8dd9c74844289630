package api

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
)

// FieldSelector narrows a list or a watch by fields of the objects, as
// Kubernetes' fieldSelector does: only the fields Kubernetes supports for
// each kind (metadata.name and metadata.namespace for all), with =, ==
// and !=. The zero value selects everything.
type FieldSelector struct {
	reqs []fields.Requirement
}

// Empty reports whether the selector selects everything.
func (s FieldSelector) Empty() bool { return len(s.reqs) == 0 }

// String is the selector as a query parameter.
func (s FieldSelector) String() string {
	parts := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		op := "="
		if r.Operator == selection.NotEquals {
			op = "!="
		}
		parts[i] = r.Field + op + fields.EscapeValue(r.Value)
	}
	return strings.Join(parts, ",")
}

// Matches reports whether obj satisfies every requirement.
func (s FieldSelector) Matches(obj Object) bool {
	if len(s.reqs) == 0 {
		return true
	}
	set := objectFields(obj)
	for _, r := range s.reqs {
		v := set[r.Field]
		if (r.Operator == selection.NotEquals) == (v == r.Value) {
			return false
		}
	}
	return true
}

// ParseFieldSelector parses a fieldSelector for kind k. A field the kind
// does not support is refused naming the fields it does, as Kubernetes
// refuses it ("field label not supported").
func ParseFieldSelector(k *Kind, s string) (FieldSelector, error) {
	sel, err := fields.ParseSelector(s)
	if err != nil {
		return FieldSelector{}, fmt.Errorf("fieldSelector: %w", err)
	}
	supported := selectableFields(k)
	var out FieldSelector
	for _, r := range sel.Requirements() {
		if !supported[r.Field] {
			names := make([]string, 0, len(supported))
			for f := range supported {
				names = append(names, f)
			}
			sort.Strings(names)
			return FieldSelector{}, fmt.Errorf("fieldSelector: field label not supported: %s (%s supports %s)",
				r.Field, k.Resource, strings.Join(names, ", "))
		}
		out.reqs = append(out.reqs, r)
	}
	return out, nil
}

// selectableFields is the set of fields a kind may be selected by.
func selectableFields(k *Kind) map[string]bool {
	set := objectFields(k.New())
	out := make(map[string]bool, len(set))
	for f := range set {
		out[f] = true
	}
	return out
}

// objectFields gives the selectable fields of an object with their values,
// the same fields Kubernetes offers for each kind.
func objectFields(obj Object) map[string]string {
	m := obj.GetObjectMeta()
	set := map[string]string{"metadata.name": m.Name}
	if KindOf(obj).Namespaced {
		set["metadata.namespace"] = m.Namespace
	}
	switch o := obj.(type) {
	case *Pod:
		set["spec.nodeName"] = o.Spec.NodeName
		set["spec.restartPolicy"] = o.Spec.RestartPolicy
		set["spec.serviceAccountName"] = o.Spec.ServiceAccountName
		set["spec.hostNetwork"] = strconv.FormatBool(o.Spec.HostNetwork)
		set["status.phase"] = o.Status.Phase
		set["status.podIP"] = o.Status.PodIP
	case *Event:
		r := o.InvolvedObject
		set["involvedObject.kind"] = r.Kind
		set["involvedObject.namespace"] = r.Namespace
		set["involvedObject.name"] = r.Name
		set["involvedObject.uid"] = r.UID
		set["involvedObject.apiVersion"] = r.APIVersion
		set["involvedObject.resourceVersion"] = r.ResourceVersion
		set["involvedObject.fieldPath"] = r.FieldPath
		set["reason"] = o.Reason
		set["reportingComponent"] = o.ReportingComponent
		set["source"] = o.Source.Component
		set["type"] = o.Type
	case *Secret:
		set["type"] = o.Type
	case *Node:
		set["spec.unschedulable"] = strconv.FormatBool(o.Spec.Unschedulable)
	case *Namespace:
		set["status.phase"] = o.Status.Phase
	case *ReplicaSet:
		set["status.replicas"] = strconv.Itoa(int(o.Status.Replicas))
	case *ReplicationController:
		set["status.replicas"] = strconv.Itoa(int(o.Status.Replicas))
	case *Job:
		set["status.successful"] = strconv.Itoa(int(o.Status.Succeeded))
	}
	return set
}
