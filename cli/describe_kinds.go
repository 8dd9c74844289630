package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

func (d *describer) pod(p *api.Pod) {
	d.meta(&p.ObjectMeta, true)
	node := printers.OrNone(p.Spec.NodeName)
	if p.Status.HostIP != "" {
		node += "/" + p.Status.HostIP
	}
	d.line(0, "Node", node)
	if p.Status.StartTime != nil {
		d.line(0, "Start Time", timestamp(*p.Status.StartTime))
	}
	status := printers.OrNone(p.Status.Phase)
	if p.DeletionTimestamp != nil && !api.IsPodTerminal(p) {
		status = "Terminating"
	}
	d.line(0, "Status", status)
	if p.Status.Reason != "" {
		d.line(0, "Reason", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.line(0, "Message", oneLine(p.Status.Message))
	}
	d.line(0, "IP", p.Status.PodIP)
	if len(p.Spec.InitContainers) > 0 {
		d.text(0, "Init Containers:")
		d.containers(1, p.Spec.InitContainers, p.Status.InitContainerStatuses)
	}
	d.text(0, "Containers:")
	d.containers(1, p.Spec.Containers, p.Status.ContainerStatuses)
	d.conditions(p.Status.Conditions)
	d.volumes(0, p.Spec.Volumes)
	d.labels(0, "Node-Selectors", p.Spec.NodeSelector)
	d.tolerations(p.Spec.Tolerations)
}

// containers writes each container at level l, with its status when there
// is one (a pod's, not a template's).
func (d *describer) containers(l int, cs []api.Container, statuses []api.ContainerStatus) {
	byName := map[string]api.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	for _, c := range cs {
		d.text(l, "%s:", c.Name)
		st, has := byName[c.Name]
		if has && st.ContainerID != "" {
			d.line(l+1, "Container ID", st.ContainerID)
		}
		d.line(l+1, "Image", c.Image)
		if has && st.ImageID != "" {
			d.line(l+1, "Image ID", st.ImageID)
		}
		d.ports(l+1, c.Ports)
		d.list(l+1, "Command", c.Command)
		d.list(l+1, "Args", c.Args)
		if has {
			d.containerStatus(l+1, st)
		}
		d.resources(l+1, c.Resources)
		d.probe(l+1, "Liveness", c.LivenessProbe)
		d.probe(l+1, "Readiness", c.ReadinessProbe)
		d.probe(l+1, "Startup", c.StartupProbe)
		d.environment(l+1, c)
		d.mounts(l+1, c.VolumeMounts)
	}
}

func (d *describer) containerStatus(l int, st api.ContainerStatus) {
	d.state(l, "State", st.State)
	if st.LastState.Running != nil || st.LastState.Waiting != nil || st.LastState.Terminated != nil {
		d.state(l, "Last State", st.LastState)
	}
	d.line(l, "Ready", titleBool(st.Ready))
	d.line(l, "Restart Count", st.RestartCount)
}

// titleBool is True or False, as conditions spell it.
func titleBool(b bool) string {
	if b {
		return api.ConditionTrue
	}
	return api.ConditionFalse
}

func (d *describer) ports(l int, ports []api.ContainerPort) {
	if len(ports) == 0 {
		d.line(l, "Port", "<none>")
		return
	}
	var ps, hs []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		ps = append(ps, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
		hs = append(hs, fmt.Sprintf("%d/%s", p.HostPort, proto))
	}
	label := "Port"
	if len(ports) > 1 {
		label = "Ports"
	}
	d.line(l, label, strings.Join(ps, ", "))
	d.line(l, "Host "+label, strings.Join(hs, ", "))
}

// list writes an argv one element per line, as kubectl does.
func (d *describer) list(level int, label string, items []string) {
	if len(items) == 0 {
		return
	}
	d.text(level, "%s:", label)
	for _, it := range items {
		d.text(level+1, "%s", strings.ReplaceAll(it, "\t", " "))
	}
}

func (d *describer) state(level int, label string, s api.ContainerState) {
	switch {
	case s.Running != nil:
		d.line(level, label, "Running")
		d.line(level+1, "Started", timestamp(s.Running.StartedAt))
	case s.Waiting != nil:
		d.line(level, label, "Waiting")
		if s.Waiting.Reason != "" {
			d.line(level+1, "Reason", s.Waiting.Reason)
		}
		if s.Waiting.Message != "" {
			d.line(level+1, "Message", oneLine(s.Waiting.Message))
		}
	case s.Terminated != nil:
		t := s.Terminated
		d.line(level, label, "Terminated")
		if t.Reason != "" {
			d.line(level+1, "Reason", t.Reason)
		}
		if t.Message != "" {
			d.line(level+1, "Message", oneLine(t.Message))
		}
		d.line(level+1, "Exit Code", t.ExitCode)
		if t.Signal != 0 {
			d.line(level+1, "Signal", t.Signal)
		}
		d.line(level+1, "Started", timestamp(t.StartedAt))
		d.line(level+1, "Finished", timestamp(t.FinishedAt))
	default:
		d.line(level, label, "Waiting")
	}
}

func (d *describer) resources(l int, r api.ResourceRequirements) {
	for _, part := range []struct {
		label string
		list  api.ResourceList
	}{{"Limits", r.Limits}, {"Requests", r.Requests}} {
		if len(part.list) == 0 {
			continue
		}
		d.text(l, "%s:", part.label)
		for _, k := range sortedKeys(part.list) {
			d.line(l+1, k, part.list[k].String())
		}
	}
}

func (d *describer) probe(l int, kind string, p *api.Probe) {
	if p == nil {
		return
	}
	var what string
	switch {
	case p.HTTPGet != nil:
		scheme := strings.ToLower(p.HTTPGet.Scheme)
		if scheme == "" {
			scheme = "http"
		}
		what = fmt.Sprintf("http-get %s://%s:%s%s", scheme, p.HTTPGet.Host, p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		what = fmt.Sprintf("tcp-socket %s:%s", p.TCPSocket.Host, p.TCPSocket.Port.String())
	case p.Exec != nil:
		what = fmt.Sprintf("exec %v", p.Exec.Command)
	default:
		what = "unknown"
	}
	d.line(l, kind, fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", what,
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold))
}

func (d *describer) environment(l int, c api.Container) {
	if len(c.Env) == 0 && len(c.EnvFrom) == 0 {
		d.line(l, "Environment", "<none>")
		return
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			d.line(l, "Environment Variables from", from.ConfigMapRef.Name+" ConfigMap")
		case from.SecretRef != nil:
			d.line(l, "Environment Variables from", from.SecretRef.Name+" Secret")
		}
	}
	if len(c.Env) == 0 {
		return
	}
	d.text(l, "Environment:")
	for _, e := range c.Env {
		d.line(l+1, e.Name, envValue(e))
	}
}

func envValue(e api.EnvVar) string {
	vf := e.ValueFrom
	switch {
	case vf == nil:
		return strings.ReplaceAll(e.Value, "\t", " ")
	case vf.FieldRef != nil:
		return fmt.Sprintf("(%s)", vf.FieldRef.FieldPath)
	case vf.ConfigMapKeyRef != nil:
		return fmt.Sprintf("<set to the key '%s' of config map '%s'>", vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name)
	case vf.SecretKeyRef != nil:
		return fmt.Sprintf("<set to the key '%s' in secret '%s'>", vf.SecretKeyRef.Key, vf.SecretKeyRef.Name)
	}
	return ""
}

func (d *describer) mounts(l int, ms []api.VolumeMount) {
	if len(ms) == 0 {
		d.line(l, "Mounts", "<none>")
		return
	}
	d.text(l, "Mounts:")
	for _, m := range ms {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		sub := ""
		if m.SubPath != "" {
			sub = ", path = " + strconv.Quote(m.SubPath)
		}
		d.text(l+1, "%s from %s (%s%s)", m.MountPath, m.Name, mode, sub)
	}
}

func (d *describer) conditions(cs []api.Condition) {
	if len(cs) == 0 {
		return
	}
	d.text(0, "Conditions:")
	d.text(1, "Type\tStatus")
	for _, c := range cs {
		d.text(1, "%s\t%s", c.Type, c.Status)
	}
}

func (d *describer) volumes(l int, vs []api.Volume) {
	if len(vs) == 0 {
		d.line(l, "Volumes", "<none>")
		return
	}
	d.text(l, "Volumes:")
	for _, v := range vs {
		d.text(l+1, "%s:", v.Name)
		switch {
		case v.EmptyDir != nil:
			d.line(l+2, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
			d.line(l+2, "Medium", v.EmptyDir.Medium)
		case v.HostPath != nil:
			d.line(l+2, "Type", "HostPath (bare host directory volume)")
			d.line(l+2, "Path", v.HostPath.Path)
		case v.ConfigMap != nil:
			d.line(l+2, "Type", "ConfigMap (a volume populated by a ConfigMap)")
			d.line(l+2, "Name", v.ConfigMap.Name)
		case v.Secret != nil:
			d.line(l+2, "Type", "Secret (a volume populated by a Secret)")
			d.line(l+2, "SecretName", v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil:
			d.line(l+2, "Type", "PersistentVolumeClaim (a named Docker volume on the node)")
			d.line(l+2, "ClaimName", v.PersistentVolumeClaim.ClaimName)
		}
	}
}

func (d *describer) tolerations(ts []api.Toleration) {
	if len(ts) == 0 {
		d.line(0, "Tolerations", "<none>")
		return
	}
	for i, t := range ts {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + t.Effect
		}
		if t.Operator == "Exists" && t.Key == "" {
			s = "op=Exists"
		}
		if i == 0 {
			d.line(0, "Tolerations", s)
		} else {
			d.text(0, "\t%s", s)
		}
	}
}

func (d *describer) template(t *api.PodTemplateSpec) {
	d.text(0, "Pod Template:")
	d.labels(1, "Labels", t.Labels)
	if len(t.Annotations) > 0 {
		d.labels(1, "Annotations", t.Annotations)
	}
	if len(t.Spec.InitContainers) > 0 {
		d.text(1, "Init Containers:")
		d.containers(2, t.Spec.InitContainers, nil)
	}
	d.text(1, "Containers:")
	d.containers(2, t.Spec.Containers, nil)
	d.volumes(1, t.Spec.Volumes)
}

func (d *describer) deployment(dep *api.Deployment) error {
	d.meta(&dep.ObjectMeta, true)
	d.line(0, "Selector", selectorString(dep.Spec.Selector))
	st := dep.Status
	d.line(0, "Replicas", fmt.Sprintf("%d desired | %d updated | %d total | %d available | %d unavailable",
		replicas(dep.Spec.Replicas), st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas))
	strategy := dep.Spec.Strategy.Type
	if strategy == "" {
		strategy = api.RollingUpdateStrategy
	}
	d.line(0, "StrategyType", strategy)
	d.line(0, "MinReadySeconds", dep.Spec.MinReadySeconds)
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil && strategy == api.RollingUpdateStrategy {
		d.line(0, "RollingUpdateStrategy", fmt.Sprintf("%s max unavailable, %s max surge", intOrPercent(ru.MaxUnavailable), intOrPercent(ru.MaxSurge)))
	}
	if dep.Spec.Paused {
		d.line(0, "Paused", "true")
	}
	d.template(&dep.Spec.Template)
	if len(st.Conditions) > 0 {
		d.text(0, "Conditions:")
		d.text(1, "Type\tStatus\tReason")
		d.text(1, "----\t------\t------")
		for _, c := range st.Conditions {
			d.text(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
	return d.ownedReplicaSets(dep)
}

func intOrPercent(v *api.IntOrString) string {
	if v == nil {
		return "25%"
	}
	return v.String()
}

func selectorString(s *api.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	return printers.OrNone(s.String())
}

// ownedReplicaSets writes the deployment's ReplicaSets: the newest revision
// is the NewReplicaSet, the rest old ones still holding pods.
func (d *describer) ownedReplicaSets(dep *api.Deployment) error {
	owned, err := replicaSetsOf(d.ctx, d.c, dep)
	if err != nil {
		return err
	}
	if len(owned) == 0 {
		d.line(0, "NewReplicaSet", "<none>")
		return nil
	}
	var old []string
	for _, rs := range owned[1:] {
		if replicas(rs.Spec.Replicas) > 0 || rs.Status.Replicas > 0 {
			old = append(old, rsSummary(rs))
		}
	}
	d.line(0, "OldReplicaSets", printers.OrNone(strings.Join(old, ", ")))
	d.line(0, "NewReplicaSet", rsSummary(owned[0]))
	return nil
}

func rsSummary(rs *api.ReplicaSet) string {
	return fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, replicas(rs.Spec.Replicas))
}

func (d *describer) replicaSet(rs *api.ReplicaSet) error {
	d.meta(&rs.ObjectMeta, true)
	d.line(0, "Selector", selectorString(rs.Spec.Selector))
	d.line(0, "Replicas", fmt.Sprintf("%d current / %d desired", rs.Status.Replicas, replicas(rs.Spec.Replicas)))
	counts, err := d.podPhases(rs.Namespace, rs.Spec.Selector, rs.UID)
	if err != nil {
		return err
	}
	d.line(0, "Pods Status", fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed",
		counts[api.PodRunning], counts[api.PodPending], counts[api.PodSucceeded], counts[api.PodFailed]))
	d.template(&rs.Spec.Template)
	return nil
}

// podPhases counts the phases of the pods a controller owns.
func (d *describer) podPhases(ns string, ls *api.LabelSelector, owner string) (map[string]int, error) {
	counts := map[string]int{}
	sel, err := ls.AsSelector()
	if err != nil || ls == nil {
		return counts, nil
	}
	pods, _, err := client.ListAs[api.Pod](d.ctx, d.c, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range pods {
		if ref := p.ControllerRef(); ref != nil && ref.UID == owner {
			counts[p.Status.Phase]++
		}
	}
	return counts, nil
}

func (d *describer) node(n *api.Node) error {
	d.line(0, "Name", n.Name)
	d.line(0, "Roles", printers.NodeRoles(n))
	d.labels(0, "Labels", n.Labels)
	d.labels(0, "Annotations", n.Annotations)
	d.line(0, "CreationTimestamp", timestamp(n.CreationTimestamp))
	d.taints(n.Spec.Taints)
	d.line(0, "Unschedulable", n.Spec.Unschedulable)
	if len(n.Status.Conditions) > 0 {
		d.text(0, "Conditions:")
		d.text(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
		d.text(1, "----\t------\t-----------------\t------------------\t------\t-------")
		for _, c := range n.Status.Conditions {
			d.text(1, "%s\t%s\t%s\t%s\t%s\t%s", c.Type, c.Status, timestamp(c.LastHeartbeatTime),
				timestamp(c.LastTransitionTime), c.Reason, oneLine(c.Message))
		}
	}
	d.text(0, "Addresses:")
	for _, a := range n.Status.Addresses {
		d.line(1, a.Type, a.Address)
	}
	d.resourceList("Capacity", n.Status.Capacity)
	d.resourceList("Allocatable", n.Status.Allocatable)
	info := n.Status.NodeInfo
	d.text(0, "System Info:")
	d.line(1, "Machine ID", info.MachineID)
	d.line(1, "Kernel Version", info.KernelVersion)
	d.line(1, "OS Image", info.OSImage)
	d.line(1, "Operating System", info.OperatingSystem)
	d.line(1, "Architecture", info.Architecture)
	d.line(1, "Container Runtime Version", info.ContainerRuntimeVersion)
	d.line(1, "Agent Version", info.KubeletVersion)
	if n.Spec.PodCIDR != "" {
		d.line(0, "PodCIDR", n.Spec.PodCIDR)
	}
	return d.nodePods(n)
}

func (d *describer) taints(ts []api.Taint) {
	if len(ts) == 0 {
		d.line(0, "Taints", "<none>")
		return
	}
	for i, t := range ts {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		s += ":" + t.Effect
		if i == 0 {
			d.line(0, "Taints", s)
		} else {
			d.text(0, "\t%s", s)
		}
	}
}

func (d *describer) resourceList(label string, l api.ResourceList) {
	if len(l) == 0 {
		return
	}
	d.text(0, "%s:", label)
	for _, k := range sortedKeys(l) {
		d.line(1, k, l[k].String())
	}
}

// nodePods lists the pods bound to the node that have not finished, with
// what they request, then the sums against what the node offers: kubectl's
// "Non-terminated Pods" and "Allocated resources".
func (d *describer) nodePods(n *api.Node) error {
	pods, _, err := client.ListAs[api.Pod](d.ctx, d.c, "", api.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the pods of node %s: %w", n.Name, err)
	}
	l := printers.NodeLoads(pods)[n.Name]
	if l == nil {
		l = &printers.NodeLoad{}
	}
	cpu := func(v int64) string {
		return fmt.Sprintf("%s (%d%%)", printers.MilliCPU(v), percentOf(n, api.ResourceCPU, v, true))
	}
	mem := func(v int64) string {
		return fmt.Sprintf("%s (%d%%)", printers.HumanBytes(v), percentOf(n, api.ResourceMemory, v, false))
	}
	d.text(0, "Non-terminated Pods:\t(%d in total)", len(l.Pods))
	if len(l.Pods) > 0 {
		d.text(1, "Namespace\tName\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
		d.text(1, "---------\t----\t------------\t----------\t---------------\t-------------\t---")
		for _, p := range l.Pods {
			r := printers.ResourcesOf(p)
			d.text(1, "%s\t%s\t%s\t%s\t%s\t%s\t%s", p.Namespace, p.Name, cpu(r.CPURequest), cpu(r.CPULimit), mem(r.MemoryRequest),
				mem(r.MemoryLimit), printers.Age(p.CreationTimestamp, d.now))
		}
	}
	d.text(0, "Allocated resources:")
	d.text(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
	d.text(1, "Resource\tRequests\tLimits")
	d.text(1, "--------\t--------\t------")
	d.text(1, "%s\t%s\t%s", api.ResourceCPU, cpu(l.Sum.CPURequest), cpu(l.Sum.CPULimit))
	d.text(1, "%s\t%s\t%s", api.ResourceMemory, mem(l.Sum.MemoryRequest), mem(l.Sum.MemoryLimit))
	return nil
}

// percentOf is v as a whole percentage of the node's allocatable amount,
// truncated as kubectl does; 0 when the node reports none.
func percentOf(n *api.Node, name string, v int64, milli bool) int64 {
	q, ok := printers.Allocatable(n, name)
	total := q.Value()
	if milli {
		total = q.MilliValue()
	}
	if !ok || total == 0 {
		return 0
	}
	return int64(float64(v) / float64(total) * 100)
}

// generic describes a kind without its own describer: the metadata, then
// the rest of the object as YAML.
func (d *describer) generic(k *api.Kind, obj api.Object) error {
	d.meta(obj.GetObjectMeta(), k.Namespaced)
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", k.Kind, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("encoding %s: %w", k.Kind, err)
	}
	for _, drop := range []string{"apiVersion", "kind", "metadata"} {
		delete(m, drop)
	}
	if len(m) == 0 {
		return nil
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", k.Kind, err)
	}
	d.text(0, "%s", strings.TrimRight(strings.ReplaceAll(string(y), "\t", "  "), "\n"))
	return nil
}
