package printers

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// PodResources is what a pod asks of its node, in millicores and bytes.
type PodResources struct {
	CPURequest, CPULimit       int64
	MemoryRequest, MemoryLimit int64
}

func (a PodResources) add(b PodResources) PodResources {
	return PodResources{CPURequest: a.CPURequest + b.CPURequest, CPULimit: a.CPULimit + b.CPULimit,
		MemoryRequest: a.MemoryRequest + b.MemoryRequest, MemoryLimit: a.MemoryLimit + b.MemoryLimit}
}

func (a PodResources) atLeast(b PodResources) PodResources {
	return PodResources{CPURequest: max(a.CPURequest, b.CPURequest), CPULimit: max(a.CPULimit, b.CPULimit),
		MemoryRequest: max(a.MemoryRequest, b.MemoryRequest), MemoryLimit: max(a.MemoryLimit, b.MemoryLimit)}
}

// containerResources reads one container; a limit without a request counts
// as the request, as the API defaults it and the scheduler counts it.
func containerResources(c *api.Container) PodResources {
	req := func(name string) api.Quantity {
		if q, ok := c.Resources.Requests[name]; ok {
			return q
		}
		return c.Resources.Limits[name]
	}
	return PodResources{CPURequest: req(api.ResourceCPU).MilliValue(), CPULimit: c.Resources.Limits[api.ResourceCPU].MilliValue(),
		MemoryRequest: req(api.ResourceMemory).Value(), MemoryLimit: c.Resources.Limits[api.ResourceMemory].Value()}
}

// ResourcesOf is a pod's effective requests and limits: the sum over its
// app containers, or an init container's when larger, since init
// containers run one at a time before the others. The scheduler counts
// requests the same way, so the numbers shown are the ones it used.
func ResourcesOf(p *api.Pod) PodResources {
	var r PodResources
	for i := range p.Spec.Containers {
		r = r.add(containerResources(&p.Spec.Containers[i]))
	}
	for i := range p.Spec.InitContainers {
		r = r.atLeast(containerResources(&p.Spec.InitContainers[i]))
	}
	return r
}

// NodeLoad is what the pods bound to one node take of it.
type NodeLoad struct {
	Pods []*api.Pod // not terminated, by namespace and name
	Sum  PodResources
}

// NodeLoads groups pods by the node they are bound to. Pods that have
// finished take nothing, as in kubectl's "Non-terminated Pods".
func NodeLoads(pods []*api.Pod) map[string]*NodeLoad {
	loads := map[string]*NodeLoad{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || api.IsPodTerminal(p) {
			continue
		}
		l := loads[p.Spec.NodeName]
		if l == nil {
			l = &NodeLoad{}
			loads[p.Spec.NodeName] = l
		}
		l.Pods = append(l.Pods, p)
		l.Sum = l.Sum.add(ResourcesOf(p))
	}
	for _, l := range loads {
		sort.Slice(l.Pods, func(i, j int) bool {
			a, b := l.Pods[i], l.Pods[j]
			return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
		})
	}
	return loads
}

func nodeRow(o api.Object, now time.Time, opts *Options) []string {
	n, ok := o.(*api.Node)
	if !ok {
		return []string{"", "", "", "", "", "", ""}
	}
	row := []string{NodeStatus(n), NodeRoles(n), Age(n.CreationTimestamp, now), OrNone(NodeInternalIP(n))}
	if opts.Loads == nil {
		return append(row, "<unknown>", "<unknown>", "<unknown>")
	}
	l := opts.Loads[n.Name]
	if l == nil {
		l = &NodeLoad{}
	}
	alloc := func(name string, format func(int64) string, value func(api.Quantity) int64) string {
		if q, ok := Allocatable(n, name); ok {
			return format(value(q))
		}
		return "<unknown>"
	}
	return append(row,
		strconv.Itoa(len(l.Pods))+"/"+alloc(api.ResourcePods, func(v int64) string { return strconv.FormatInt(v, 10) }, api.Quantity.Value),
		MilliCPU(l.Sum.CPURequest)+"/"+alloc(api.ResourceCPU, MilliCPU, api.Quantity.MilliValue),
		HumanBytes(l.Sum.MemoryRequest)+"/"+alloc(api.ResourceMemory, HumanBytes, api.Quantity.Value))
}

// Allocatable is what the node offers to pods, or its capacity when it
// reports no allocatable amount, as the scheduler reads it.
func Allocatable(n *api.Node, name string) (api.Quantity, bool) {
	if q, ok := n.Status.Allocatable[name]; ok {
		return q, true
	}
	q, ok := n.Status.Capacity[name]
	return q, ok
}

// MilliCPU writes millicores as kubectl does: 250m, 2, 1500m.
func MilliCPU(v int64) string {
	return api.NewMilliQuantity(v).String()
}

// binaryUnits are the suffixes of HumanBytes, largest first.
var binaryUnits = []struct {
	suffix string
	size   int64
}{{"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}

// HumanBytes writes a byte count in binary units: exactly when a unit
// holds it in at most four digits (64Mi, 1056Mi, 23Gi), else rounded in the
// largest unit it reaches, to a tenth below 10 (7.8Gi) and to a whole unit
// above (159Mi). Agents report the engine's memory to the byte
// (8337825792), which nobody reads at a glance.
func HumanBytes(v int64) string {
	for _, u := range binaryUnits {
		if v >= u.size && v%u.size == 0 && v/u.size < 10000 {
			return strconv.FormatInt(v/u.size, 10) + u.suffix
		}
	}
	for i, u := range binaryUnits {
		if v < u.size {
			continue
		}
		x := float64(v) / float64(u.size)
		if x < 9.95 {
			return strconv.FormatFloat(x, 'f', 1, 64) + u.suffix
		}
		if r := math.Round(x); r < 1024 || i == 0 {
			return strconv.FormatFloat(r, 'f', 0, 64) + u.suffix
		}
		return "1" + binaryUnits[i-1].suffix // 1023.8Mi reads better as 1Gi
	}
	return strconv.FormatInt(v, 10)
}

// NodeStatus is kubectl's STATUS: Ready, NotReady when the Ready condition
// is False or Unknown (the agent is gone), Unknown when there is none, with
// SchedulingDisabled appended for a cordoned node.
func NodeStatus(n *api.Node) string {
	status := "Unknown"
	if c := api.FindCondition(n.Status.Conditions, api.NodeReady); c != nil {
		status = "NotReady"
		if c.Status == api.ConditionTrue {
			status = "Ready"
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// NodeRoles reads the node-role.kubernetes.io/ROLE labels.
func NodeRoles(n *api.Node) string {
	var roles []string
	for k, v := range n.Labels {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			roles = append(roles, role)
		} else if k == "kubernetes.io/role" && v != "" {
			roles = append(roles, v)
		}
	}
	sort.Strings(roles)
	return OrNone(strings.Join(roles, ","))
}

func NodeInternalIP(n *api.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == api.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func nodeWide(o api.Object) []string {
	n, ok := o.(*api.Node)
	if !ok {
		return []string{"", "", "", "", ""}
	}
	info := n.Status.NodeInfo
	return []string{UnknownIfEmpty(info.KubeletVersion), UnknownIfEmpty(info.OSImage), UnknownIfEmpty(info.KernelVersion),
		UnknownIfEmpty(info.ContainerRuntimeVersion), NodeBackend(n)}
}

// NodeBackend is what the node says it uses to reach its peers' pods: the
// backends in use, <none> without peers, host-gw for an agent that
// publishes nothing (an older one knows only that).
func NodeBackend(n *api.Node) string {
	if v := n.Annotations[api.AnnotationBackendsInUse]; v != "" {
		return v
	}
	if _, ok := n.Annotations[api.AnnotationPodNetworkBackend]; ok {
		return "<none>"
	}
	return "host-gw"
}

func UnknownIfEmpty(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
