package printers

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// A column's Type is the OpenAPI type of its cells, as in a Kubernetes
// Table: integer cells hold whole numbers, string cells anything.
const (
	typeString  = "string"
	typeInteger = "integer"
)

// Descriptions shared by many kinds.
const (
	ageDescription        = "How long ago the object was created (metadata.creationTimestamp)."
	containersDescription = "Names of the containers of the pod template."
	imagesDescription     = "Images of the containers of the pod template."
	selectorDescription   = "The label selector of the pods it manages."
)

func col(name, typ, description string) Column {
	return Column{Name: name, Type: typ, Description: description}
}

func wide(name, typ, description string) Column {
	return Column{Name: name, Type: typ, Description: description, Priority: 1}
}

var ageColumn = col("Age", typeString, ageDescription)

// templateColumns are the -o wide columns of the workloads.
var templateColumns = []Column{wide("Containers", typeString, containersDescription),
	wide("Images", typeString, imagesDescription), wide("Selector", typeString, selectorDescription)}

var tables = map[string]*Table{
	"Pod": {named: true, row: podRow, wideRow: podWide, columns: []Column{
		col("Ready", typeString, "Ready containers of all the pod's containers."),
		col("Status", typeString, "The pod's phase, or the reason of the container state that explains it (CrashLoopBackOff, Init:1/2, Terminating)."),
		col("Restarts", typeString, "Restarts of the pod's containers, with how long ago the last one was."),
		ageColumn,
		wide("IP", typeString, "The pod's IP address."),
		wide("Node", typeString, "The node the pod is bound to."),
	}},
	"Deployment": {named: true, row: deploymentRow, wideRow: deploymentWide, columns: append([]Column{
		col("Ready", typeString, "Ready pods of the desired replicas."),
		col("Up-to-date", typeInteger, "Pods of the current template."),
		col("Available", typeInteger, "Pods available to serve (ready for minReadySeconds)."),
		ageColumn,
	}, templateColumns...)},
	"ReplicaSet": {named: true, row: replicaSetRow, wideRow: replicaSetWide, columns: append([]Column{
		col("Desired", typeInteger, "The replicas asked for."),
		col("Current", typeInteger, "The pods it has."),
		col("Ready", typeInteger, "Its ready pods."),
		ageColumn,
	}, templateColumns...)},
	"ReplicationController": {named: true, row: replicationControllerRow, wideRow: replicationControllerWide, columns: append([]Column{
		col("Desired", typeInteger, "The replicas asked for."),
		col("Current", typeInteger, "The pods it has."),
		col("Ready", typeInteger, "Its ready pods."),
		ageColumn,
	}, templateColumns...)},
	"DaemonSet": {named: true, row: daemonSetRow, wideRow: daemonSetWide, columns: append([]Column{
		col("Desired", typeInteger, "Nodes that should run its pod."),
		col("Current", typeInteger, "Nodes running its pod."),
		col("Ready", typeInteger, "Nodes where its pod is ready."),
		col("Up-to-date", typeInteger, "Nodes running the pod of the current template."),
		col("Available", typeInteger, "Nodes where its pod is available."),
		col("Node Selector", typeString, "The node selector of the pod template."),
		ageColumn,
	}, templateColumns...)},
	"Job": {named: true, row: jobRow, wideRow: jobWide, columns: append([]Column{
		col("Status", typeString, "Complete, Failed, Running, Suspended or Terminating."),
		col("Completions", typeString, "Succeeded pods of the completions asked for."),
		col("Duration", typeString, "How long the job ran, or has been running."),
		ageColumn,
	}, templateColumns...)},
	"Node": {named: true, row: nodeRow, wideRow: nodeWide, columns: []Column{
		col("Status", typeString, "Ready, NotReady or Unknown, and SchedulingDisabled when cordoned."),
		col("Roles", typeString, "The node-role.kubernetes.io labels."),
		ageColumn,
		col("Address", typeString, "The node's internal IP address."),
		col("Pods", typeString, "Pods bound to the node of the pods it takes."),
		col("CPU(req/alloc)", typeString, "CPU requested by its pods of the CPU it offers."),
		col("Memory(req/alloc)", typeString, "Memory requested by its pods of the memory it offers."),
		wide("Version", typeString, "The agent's version."),
		wide("OS-Image", typeString, "The host's operating system."),
		wide("Kernel-Version", typeString, "The host's kernel."),
		wide("Container-Runtime", typeString, "The container engine and its version."),
		wide("Backend", typeString, "The pod network backends the node uses to reach its peers' pods (host-gw, vxlan, wireguard), <none> without peers."),
	}},
	"Namespace": {named: true, row: namespaceRow, columns: []Column{
		col("Status", typeString, "Active, or Terminating while it is deleted."), ageColumn}},
	"ConfigMap": {named: true, row: configMapRow, columns: []Column{
		col("Data", typeInteger, "Keys of data and binaryData."), ageColumn}},
	"Secret": {named: true, row: secretRow, columns: []Column{
		col("Type", typeString, "The secret's type."),
		col("Data", typeInteger, "Keys of its data."), ageColumn}},
	"PersistentVolumeClaim": {named: true, row: claimRow, columns: []Column{
		col("Status", typeString, "Pending or Bound."),
		col("Node", typeString, "The node holding the claim's data."),
		col("Capacity", typeString, "The storage requested."),
		col("Access Modes", typeString, "RWO, ROX, RWX, RWOP."),
		col("StorageClass", typeString, "The storage class asked for."),
		ageColumn,
	}},
	"Event": {row: eventRow, columns: []Column{
		col("Last Seen", typeString, "How long ago the event last happened."),
		col("Type", typeString, "Normal or Warning."),
		col("Reason", typeString, "Why the event happened, in one word."),
		col("Object", typeString, "The object the event is about."),
		col("Message", typeString, "What happened."),
	}},
	"Service": {named: true, row: serviceRow, wideRow: serviceWide, columns: []Column{
		col("Type", typeString, "ClusterIP, NodePort, LoadBalancer or ExternalName."),
		col("Cluster-IP", typeString, "The service's virtual IP address, None when headless."),
		col("External-IP", typeString, "The load balancer's addresses, or the external name."),
		col("Port(s)", typeString, "The service's ports, with node ports."),
		ageColumn,
		wide("Selector", typeString, "The label selector of the pods it sends to."),
	}},
	"CronJob": {named: true, row: cronJobRow, wideRow: cronJobWide, columns: append([]Column{
		col("Schedule", typeString, "The cron schedule."),
		col("Timezone", typeString, "The time zone of the schedule."),
		col("Suspend", typeString, "Whether later runs are suspended."),
		col("Active", typeInteger, "Jobs running now."),
		col("Last Schedule", typeString, "How long ago a job was last scheduled."),
		ageColumn,
	}, templateColumns...)},
	"StatefulSet": {named: true, row: statefulSetRow, wideRow: statefulSetWide, columns: []Column{
		col("Ready", typeString, "Ready pods of the desired replicas."),
		ageColumn,
		wide("Containers", typeString, containersDescription),
		wide("Images", typeString, imagesDescription),
	}},
	"ControllerRevision": {named: true, row: revisionRow, columns: []Column{
		col("Controller", typeString, "The object the revision belongs to."),
		col("Revision", typeInteger, "The revision's number."),
		ageColumn,
	}},
	"PodDisruptionBudget": {named: true, row: budgetRow, columns: []Column{
		col("Min Available", typeString, "Pods that must stay available, a number or a percentage."),
		col("Max Unavailable", typeString, "Pods that may be unavailable, a number or a percentage."),
		col("Allowed Disruptions", typeInteger, "Evictions the budget allows now."),
		ageColumn,
	}},
	"HorizontalPodAutoscaler": {named: true, row: autoscalerRow, columns: []Column{
		col("Reference", typeString, "The workload it scales, kind/name."),
		col("Targets", typeString, "Each metric's current value and its target."),
		col("MinPods", typeString, "The fewest replicas it scales to."),
		col("MaxPods", typeInteger, "The most replicas it scales to."),
		col("Replicas", typeInteger, "The replicas it last saw."),
		ageColumn,
	}},
	"ServiceAccount": {named: true, row: serviceAccountRow, columns: []Column{
		col("Secrets", typeInteger, "Secrets the account lists."), ageColumn}},
	"StorageClass": {named: true, row: storageClassRow, columns: []Column{
		col("Provisioner", typeString, "What makes the volumes of its claims."),
		col("ReclaimPolicy", typeString, "What happens to a volume when its claim is deleted."),
		col("VolumeBindingMode", typeString, "Immediate, or WaitForFirstConsumer: a claim is bound where its first pod runs."),
		col("AllowVolumeExpansion", typeString, "Whether claims may grow."),
		ageColumn,
	}},
	"PersistentVolume": {named: true, row: persistentVolumeRow, wideRow: persistentVolumeWide, columns: []Column{
		col("Capacity", typeString, "The volume's size."),
		col("Access Modes", typeString, "RWO, ROX, RWX, RWOP."),
		col("Reclaim Policy", typeString, "What happens to the volume when its claim is deleted."),
		col("Status", typeString, "Available, Bound, Released or Failed."),
		col("Claim", typeString, "The claim bound to it, namespace/name."),
		col("StorageClass", typeString, "Its storage class."),
		col("Reason", typeString, "Why it is in its status."),
		ageColumn,
		wide("VolumeMode", typeString, "Filesystem or Block."),
	}},
	"Endpoints": {named: true, row: endpointsRow, columns: []Column{
		col("Endpoints", typeString, "The ready backends, address:port."), ageColumn}},
	"Ingress": {named: true, row: ingressRow, columns: []Column{
		col("Class", typeString, "The ingress class."),
		col("Hosts", typeString, "The hosts of its rules."),
		col("Address", typeString, "The load balancer's addresses."),
		col("Ports", typeString, "The ports it listens on."),
		ageColumn,
	}},
}

// generic serves kinds without a table of their own: NAME and AGE.
var generic = &Table{named: true, columns: []Column{ageColumn}, row: func(o api.Object, now time.Time, _ *Options) []string {
	return []string{Age(o.GetObjectMeta().CreationTimestamp, now)}
}}

// For returns the table of a kind, the NAME and AGE one for kinds without
// their own.
func For(kind string) *Table {
	if t, ok := tables[kind]; ok {
		return t
	}
	return generic
}

// Has reports whether the kind has a table of its own.
func Has(kind string) bool {
	_, ok := tables[kind]
	return ok
}

func podRow(o api.Object, now time.Time, _ *Options) []string {
	p, ok := o.(*api.Pod)
	if !ok {
		return []string{"", "", "", ""}
	}
	s := PodStatus(p)
	return []string{fmt.Sprintf("%d/%d", s.Ready, s.Total), s.Reason, s.RestartsString(now), Age(p.CreationTimestamp, now)}
}

func podWide(o api.Object) []string {
	p, ok := o.(*api.Pod)
	if !ok {
		return []string{"", ""}
	}
	return []string{OrNone(p.Status.PodIP), OrNone(p.Spec.NodeName)}
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func deploymentRow(o api.Object, now time.Time, _ *Options) []string {
	d, ok := o.(*api.Deployment)
	if !ok {
		return []string{"", "", "", ""}
	}
	return []string{
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		fmt.Sprint(d.Status.UpdatedReplicas),
		fmt.Sprint(d.Status.AvailableReplicas),
		Age(d.CreationTimestamp, now),
	}
}

func deploymentWide(o api.Object) []string {
	d, ok := o.(*api.Deployment)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&d.Spec.Template, d.Spec.Selector)
}

func replicaSetRow(o api.Object, now time.Time, _ *Options) []string {
	rs, ok := o.(*api.ReplicaSet)
	if !ok {
		return []string{"", "", "", ""}
	}
	return []string{
		fmt.Sprint(replicas(rs.Spec.Replicas)),
		fmt.Sprint(rs.Status.Replicas),
		fmt.Sprint(rs.Status.ReadyReplicas),
		Age(rs.CreationTimestamp, now),
	}
}

func replicaSetWide(o api.Object) []string {
	rs, ok := o.(*api.ReplicaSet)
	if !ok {
		return []string{"", "", ""}
	}
	return templateWide(&rs.Spec.Template, rs.Spec.Selector)
}

func replicationControllerRow(o api.Object, now time.Time, _ *Options) []string {
	rc, ok := o.(*api.ReplicationController)
	if !ok {
		return []string{"", "", "", ""}
	}
	return []string{
		fmt.Sprint(replicas(rc.Spec.Replicas)),
		fmt.Sprint(rc.Status.Replicas),
		fmt.Sprint(rc.Status.ReadyReplicas),
		Age(rc.CreationTimestamp, now),
	}
}

func replicationControllerWide(o api.Object) []string {
	rc, ok := o.(*api.ReplicationController)
	if !ok {
		return []string{"", "", ""}
	}
	t := rc.Spec.Template
	if t == nil {
		t = &api.PodTemplateSpec{}
	}
	return templateWide(t, rc.Spec.LabelSelector())
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
		selector = OrNone(sel.String())
	}
	return []string{strings.Join(names, ","), strings.Join(images, ","), selector}
}

func namespaceRow(o api.Object, now time.Time, _ *Options) []string {
	ns, ok := o.(*api.Namespace)
	if !ok {
		return []string{"", ""}
	}
	phase := ns.Status.Phase
	if phase == "" {
		phase = api.NamespaceActive
	}
	return []string{phase, Age(ns.CreationTimestamp, now)}
}

func configMapRow(o api.Object, now time.Time, _ *Options) []string {
	cm, ok := o.(*api.ConfigMap)
	if !ok {
		return []string{"", ""}
	}
	return []string{fmt.Sprint(len(cm.Data) + len(cm.BinaryData)), Age(cm.CreationTimestamp, now)}
}

func secretRow(o api.Object, now time.Time, _ *Options) []string {
	s, ok := o.(*api.Secret)
	if !ok {
		return []string{"", "", ""}
	}
	typ := s.Type
	if typ == "" {
		typ = "Opaque"
	}
	return []string{typ, fmt.Sprint(len(s.Data) + len(s.StringData)), Age(s.CreationTimestamp, now)}
}

// claimRow prints a claim as kubectl does, with the node holding its data
// where kubectl prints the PersistentVolume (shoal has none).
func claimRow(o api.Object, now time.Time, _ *Options) []string {
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
	class := "<unset>"
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	node := c.SelectedNode()
	if node == "" {
		node = "<none>"
	}
	return []string{phase, node, size, accessModes(c.Spec.AccessModes), class, Age(c.CreationTimestamp, now)}
}

func eventRow(o api.Object, now time.Time, _ *Options) []string {
	e, ok := o.(*api.Event)
	if !ok {
		return []string{"", "", "", "", ""}
	}
	obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
	return []string{Age(EventTime(e), now), e.Type, e.Reason, obj, oneLine(e.Message)}
}

// EventTime is when an event last happened.
func EventTime(e *api.Event) api.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp
	}
	return e.CreationTimestamp
}
