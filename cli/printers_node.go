package cli

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// podResources is what a pod asks of its node, in millicores and bytes.
type podResources struct {
	cpuReq, cpuLim int64
	memReq, memLim int64
}

func (a podResources) add(b podResources) podResources {
	return podResources{cpuReq: a.cpuReq + b.cpuReq, cpuLim: a.cpuLim + b.cpuLim,
		memReq: a.memReq + b.memReq, memLim: a.memLim + b.memLim}
}

func (a podResources) atLeast(b podResources) podResources {
	return podResources{cpuReq: max(a.cpuReq, b.cpuReq), cpuLim: max(a.cpuLim, b.cpuLim),
		memReq: max(a.memReq, b.memReq), memLim: max(a.memLim, b.memLim)}
}

// containerResources reads one container; a limit without a request counts
// as the request, as the API defaults it and the scheduler counts it.
func containerResources(c *api.Container) podResources {
	req := func(name string) api.Quantity {
		if q, ok := c.Resources.Requests[name]; ok {
			return q
		}
		return c.Resources.Limits[name]
	}
	return podResources{cpuReq: req(api.ResourceCPU).MilliValue(), cpuLim: c.Resources.Limits[api.ResourceCPU].MilliValue(),
		memReq: req(api.ResourceMemory).Value(), memLim: c.Resources.Limits[api.ResourceMemory].Value()}
}

// resourcesOf is a pod's effective requests and limits: the sum over its
// app containers, or an init container's when larger, since init
// containers run one at a time before the others. The scheduler counts
// requests the same way, so the numbers shown are the ones it used.
func resourcesOf(p *api.Pod) podResources {
	var r podResources
	for i := range p.Spec.Containers {
		r = r.add(containerResources(&p.Spec.Containers[i]))
	}
	for i := range p.Spec.InitContainers {
		r = r.atLeast(containerResources(&p.Spec.InitContainers[i]))
	}
	return r
}

// nodeLoad is what the pods bound to one node take of it.
type nodeLoad struct {
	pods []*api.Pod // not terminated, by namespace and name
	sum  podResources
}

// nodeLoads groups pods by the node they are bound to. Pods that have
// finished take nothing, as in kubectl's "Non-terminated Pods".
func nodeLoads(pods []*api.Pod) map[string]*nodeLoad {
	loads := map[string]*nodeLoad{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || api.IsPodTerminal(p) {
			continue
		}
		l := loads[p.Spec.NodeName]
		if l == nil {
			l = &nodeLoad{}
			loads[p.Spec.NodeName] = l
		}
		l.pods = append(l.pods, p)
		l.sum = l.sum.add(resourcesOf(p))
	}
	for _, l := range loads {
		sort.Slice(l.pods, func(i, j int) bool {
			a, b := l.pods[i], l.pods[j]
			return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
		})
	}
	return loads
}

// listNodeLoads reads every pod to sum what each node carries. A token that
// may not list pods everywhere still gets its node table, with the sums
// shown as unknown (nil loads).
func listNodeLoads(ctx context.Context, c *client.Client) (map[string]*nodeLoad, error) {
	pods, _, err := client.ListAs[api.Pod](ctx, c, "", api.ListOptions{})
	if api.ReasonOf(err) == api.ReasonForbidden {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing pods to sum the requests on each node: %w", err)
	}
	return nodeLoads(pods), nil
}

// needsNodeLoads reports whether a table of these results has a node row.
func needsNodeLoads(results []kindResult) bool {
	for _, r := range results {
		if r.kind == api.KindNode && len(r.objs) > 0 {
			return true
		}
	}
	return false
}

func nodeRow(o api.Object, now time.Time, opts *tableOptions) []string {
	n, ok := o.(*api.Node)
	if !ok {
		return []string{"", "", "", "", "", "", ""}
	}
	row := []string{nodeStatus(n), nodeRoles(n), age(n.CreationTimestamp, now), orNone(nodeInternalIP(n))}
	if opts.loads == nil {
		return append(row, "<unknown>", "<unknown>", "<unknown>")
	}
	l := opts.loads[n.Name]
	if l == nil {
		l = &nodeLoad{}
	}
	alloc := func(name string, format func(int64) string, value func(api.Quantity) int64) string {
		if q, ok := allocatable(n, name); ok {
			return format(value(q))
		}
		return "<unknown>"
	}
	return append(row,
		strconv.Itoa(len(l.pods))+"/"+alloc(api.ResourcePods, func(v int64) string { return strconv.FormatInt(v, 10) }, api.Quantity.Value),
		milliCPU(l.sum.cpuReq)+"/"+alloc(api.ResourceCPU, milliCPU, api.Quantity.MilliValue),
		humanBytes(l.sum.memReq)+"/"+alloc(api.ResourceMemory, humanBytes, api.Quantity.Value))
}

// allocatable is what the node offers to pods, or its capacity when it
// reports no allocatable amount, as the scheduler reads it.
func allocatable(n *api.Node, name string) (api.Quantity, bool) {
	if q, ok := n.Status.Allocatable[name]; ok {
		return q, true
	}
	q, ok := n.Status.Capacity[name]
	return q, ok
}

// milliCPU writes millicores as kubectl does: 250m, 2, 1500m.
func milliCPU(v int64) string {
	return api.NewMilliQuantity(v).String()
}

// binaryUnits are the suffixes of humanBytes, largest first.
var binaryUnits = []struct {
	suffix string
	size   int64
}{{"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}

// humanBytes writes a byte count in binary units: exactly when a unit
// holds it in at most four digits (64Mi, 1056Mi, 23Gi), else rounded in the
// largest unit it reaches, to a tenth below 10 (7.8Gi) and to a whole unit
// above (159Mi). Agents report the engine's memory to the byte
// (8337825792), which nobody reads at a glance.
func humanBytes(v int64) string {
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

// nodeStatus is kubectl's STATUS: Ready, NotReady when the Ready condition
// is False or Unknown (the agent is gone), Unknown when there is none, with
// SchedulingDisabled appended for a cordoned node.
func nodeStatus(n *api.Node) string {
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

// nodeRoles reads the node-role.kubernetes.io/ROLE labels.
func nodeRoles(n *api.Node) string {
	var roles []string
	for k, v := range n.Labels {
		if role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && role != "" {
			roles = append(roles, role)
		} else if k == "kubernetes.io/role" && v != "" {
			roles = append(roles, v)
		}
	}
	sort.Strings(roles)
	return orNone(strings.Join(roles, ","))
}

func nodeInternalIP(n *api.Node) string {
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
		return []string{"", "", "", ""}
	}
	info := n.Status.NodeInfo
	return []string{unknownIfEmpty(info.KubeletVersion), unknownIfEmpty(info.OSImage), unknownIfEmpty(info.KernelVersion),
		unknownIfEmpty(info.ContainerRuntimeVersion)}
}

func unknownIfEmpty(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
