package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// columns are the table columns of one kind, as kubectl prints them.
type columns struct {
	named       bool // a NAME column comes first
	headers     []string
	wideHeaders []string
	row         func(o api.Object, now time.Time) []string
	// rowWith replaces row for kinds whose cells need more than the object,
	// such as the node table's sums over the pods bound to each node.
	rowWith func(o api.Object, now time.Time, opts *tableOptions) []string
	wideRow func(o api.Object) []string
}

var kindColumns = map[string]*columns{
	"Pod": {named: true, headers: []string{"READY", "STATUS", "RESTARTS", "AGE"}, row: podRow,
		wideHeaders: []string{"IP", "NODE"}, wideRow: podWide},
	"Deployment": {named: true, headers: []string{"READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, row: deploymentRow,
		wideHeaders: []string{"CONTAINERS", "IMAGES", "SELECTOR"}, wideRow: deploymentWide},
	"ReplicaSet": {named: true, headers: []string{"DESIRED", "CURRENT", "READY", "AGE"}, row: replicaSetRow,
		wideHeaders: []string{"CONTAINERS", "IMAGES", "SELECTOR"}, wideRow: replicaSetWide},
	"DaemonSet": {named: true, headers: []string{"DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
		row: daemonSetRow, wideHeaders: []string{"CONTAINERS", "IMAGES", "SELECTOR"}, wideRow: daemonSetWide},
	"Job": {named: true, headers: []string{"STATUS", "COMPLETIONS", "DURATION", "AGE"}, row: jobRow,
		wideHeaders: []string{"CONTAINERS", "IMAGES", "SELECTOR"}, wideRow: jobWide},
	"Node": {named: true, headers: []string{"STATUS", "ROLES", "AGE", "ADDRESS", "PODS", "CPU(REQ/ALLOC)", "MEMORY(REQ/ALLOC)"},
		rowWith: nodeRow, wideHeaders: []string{"VERSION", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"}, wideRow: nodeWide},
	"Namespace":             {named: true, headers: []string{"STATUS", "AGE"}, row: namespaceRow},
	"ConfigMap":             {named: true, headers: []string{"DATA", "AGE"}, row: configMapRow},
	"Secret":                {named: true, headers: []string{"TYPE", "DATA", "AGE"}, row: secretRow},
	"PersistentVolumeClaim": {named: true, headers: []string{"STATUS", "NODE", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"}, row: claimRow},
	"Event":                 {headers: []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, row: eventRow},
	"Service": {named: true, headers: []string{"TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, rowWith: serviceRow,
		wideHeaders: []string{"SELECTOR"}, wideRow: serviceWide},
	"Endpoints": {named: true, headers: []string{"ENDPOINTS", "AGE"}, row: endpointsRow},
	"Ingress":   {named: true, headers: []string{"CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"}, rowWith: ingressRow},
}

// genericColumns serve kinds without their own: NAME and AGE.
var genericColumns = &columns{named: true, headers: []string{"AGE"}, row: func(o api.Object, now time.Time) []string {
	return []string{age(o.GetObjectMeta().CreationTimestamp, now)}
}}

func columnsFor(k *api.Kind) *columns {
	if c, ok := kindColumns[k.Kind]; ok {
		return c
	}
	return genericColumns
}

func podRow(o api.Object, now time.Time) []string {
	p, ok := o.(*api.Pod)
	if !ok {
		return []string{"", "", "", ""}
	}
	s := podStatus(p)
	return []string{fmt.Sprintf("%d/%d", s.ready, s.total), s.reason, s.restartsString(now), age(p.CreationTimestamp, now)}
}

func podWide(o api.Object) []string {
	p, ok := o.(*api.Pod)
	if !ok {
		return []string{"", ""}
	}
	return []string{orNone(p.Status.PodIP), orNone(p.Spec.NodeName)}
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func deploymentRow(o api.Object, now time.Time) []string {
	d, ok := o.(*api.Deployment)
	if !ok {
		return []string{"", "", "", ""}
	}
	return []string{
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		fmt.Sprint(d.Status.UpdatedReplicas),
		fmt.Sprint(d.Status.AvailableReplicas),
		age(d.CreationTimestamp, now),
	}
}

func deploymentWide(o api.Object) []string {
	d, ok := o.(*api.Deployment)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&d.Spec.Template, d.Spec.Selector)
}

func replicaSetRow(o api.Object, now time.Time) []string {
	rs, ok := o.(*api.ReplicaSet)
	if !ok {
		return []string{"", "", "", ""}
	}
	return []string{
		fmt.Sprint(replicas(rs.Spec.Replicas)),
		fmt.Sprint(rs.Status.Replicas),
		fmt.Sprint(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now),
	}
}

func replicaSetWide(o api.Object) []string {
	rs, ok := o.(*api.ReplicaSet)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&rs.Spec.Template, rs.Spec.Selector)
}

// templateWide is CONTAINERS IMAGES SELECTOR of a workload.
func templateWide(t *api.PodTemplateSpec, sel *api.LabelSelector) []string {
	var names, images []string
	for _, c := range t.Spec.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	selector := "<none>"
	if sel != nil {
		selector = orNone(sel.String())
	}
	return []string{strings.Join(names, ","), strings.Join(images, ","), selector}
}

func namespaceRow(o api.Object, now time.Time) []string {
	ns, ok := o.(*api.Namespace)
	if !ok {
		return []string{"", ""}
	}
	phase := ns.Status.Phase
	if phase == "" {
		phase = api.NamespaceActive
	}
	return []string{phase, age(ns.CreationTimestamp, now)}
}

func configMapRow(o api.Object, now time.Time) []string {
	cm, ok := o.(*api.ConfigMap)
	if !ok {
		return []string{"", ""}
	}
	return []string{fmt.Sprint(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}
}

func secretRow(o api.Object, now time.Time) []string {
	s, ok := o.(*api.Secret)
	if !ok {
		return []string{"", "", ""}
	}
	typ := s.Type
	if typ == "" {
		typ = "Opaque"
	}
	return []string{typ, fmt.Sprint(len(s.Data) + len(s.StringData)), age(s.CreationTimestamp, now)}
}

// claimRow prints a claim as kubectl does, with the node holding its data
// where kubectl prints the PersistentVolume (shoal has none).
func claimRow(o api.Object, now time.Time) []string {
	c, ok := o.(*api.PersistentVolumeClaim)
	if !ok {
		return []string{"", "", "", "", "", ""}
	}
	phase := c.Status.Phase
	if phase == "" {
		phase = api.ClaimPhase(c)
	}
	size := ""
	if q, ok := c.Spec.Resources.Requests[api.ResourceStorage]; ok {
		size = q.String()
	}
	modes := make([]string, 0, len(c.Spec.AccessModes))
	for _, m := range c.Spec.AccessModes {
		modes = append(modes, map[string]string{api.ReadWriteOnce: "RWO", api.ReadOnlyMany: "ROX",
			api.ReadWriteMany: "RWX", api.ReadWriteOncePod: "RWOP"}[m])
	}
	class := "<unset>"
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	node := c.SelectedNode()
	if node == "" {
		node = "<none>"
	}
	return []string{phase, node, size, strings.Join(modes, ","), class, age(c.CreationTimestamp, now)}
}

func eventRow(o api.Object, now time.Time) []string {
	e, ok := o.(*api.Event)
	if !ok {
		return []string{"", "", "", "", ""}
	}
	obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
	return []string{age(eventTime(e), now), e.Type, e.Reason, obj, oneLine(e.Message)}
}

// eventTime is when an event last happened.
func eventTime(e *api.Event) api.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp
	}
	return e.CreationTimestamp
}
