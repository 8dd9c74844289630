package scheduler

import (
	"fmt"

	"github.com/shoal-dev/shoal/api"
)

// Reasons a node does not fit a pod, in the words of the Kubernetes scheduler.
const (
	reasonNotReady      = "node(s) were not ready"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonSelector      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	reasonCPU           = "Insufficient cpu"
	reasonMemory        = "Insufficient memory"
	reasonPods          = "Too many pods"
)

// Requests Kubernetes assumes, for spreading only, of a container that asks
// for nothing.
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 * 1024 * 1024
)

// resources are amounts of CPU (thousandths of a core) and memory (bytes).
type resources struct {
	milliCPU int64
	memory   int64
}

func (r resources) add(o resources) resources {
	return resources{milliCPU: r.milliCPU + o.milliCPU, memory: r.memory + o.memory}
}

func (r resources) sub(o resources) resources {
	return resources{milliCPU: r.milliCPU - o.milliCPU, memory: r.memory - o.memory}
}

// hostPort is one port a pod takes on its node.
type hostPort struct {
	ip       string
	protocol string
	port     int32
}

// podRequest is what a pod needs of a node, worked out once per attempt.
type podRequest struct {
	res     resources // effective requests: the app containers' sum, or an init container's, whichever is larger
	nonzero resources // the same with defaults for containers that ask nothing, for scoring
	ports   []hostPort
	key     string // namespace/name, and the controller's uid, for scoring
	owner   string
	// What pod affinity and topology spread need of the whole cluster,
	// worked out once per decision (nil when the rules do not apply).
	interPod *interPod
	spread   *spreadState
}

// containerRequest is a container's request of a resource; a limit given
// without a request counts as the request, as Kubernetes defaults it.
func containerRequest(c *api.Container, name string) api.Quantity {
	if q, ok := c.Resources.Requests[name]; ok {
		return q
	}
	return c.Resources.Limits[name]
}

func requestOf(c *api.Container) (res, nonzero resources) {
	res = resources{milliCPU: containerRequest(c, api.ResourceCPU).MilliValue(),
		memory: containerRequest(c, api.ResourceMemory).Value()}
	nonzero = res
	if nonzero.milliCPU == 0 {
		nonzero.milliCPU = defaultMilliCPU
	}
	if nonzero.memory == 0 {
		nonzero.memory = defaultMemory
	}
	return res, nonzero
}

// computeRequest works out a pod's requests and host ports.
func computeRequest(p *api.Pod) podRequest {
	var r podRequest
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		res, nz := requestOf(c)
		r.res, r.nonzero = r.res.add(res), r.nonzero.add(nz)
		for _, cp := range c.Ports {
			if cp.HostPort > 0 {
				r.ports = append(r.ports, normalPort(cp))
			}
		}
	}
	// Init containers run one at a time before the others.
	for i := range p.Spec.InitContainers {
		res, nz := requestOf(&p.Spec.InitContainers[i])
		r.res = resources{milliCPU: max(r.res.milliCPU, res.milliCPU), memory: max(r.res.memory, res.memory)}
		r.nonzero = resources{milliCPU: max(r.nonzero.milliCPU, nz.milliCPU), memory: max(r.nonzero.memory, nz.memory)}
	}
	return r
}

func normalPort(cp api.ContainerPort) hostPort {
	hp := hostPort{ip: cp.HostIP, protocol: cp.Protocol, port: cp.HostPort}
	if hp.ip == "" {
		hp.ip = "0.0.0.0"
	}
	if hp.protocol == "" {
		hp.protocol = "TCP"
	}
	return hp
}

// filter checks one condition of a node for a pod; it returns the reasons
// the node does not fit, none if it does.
type filter func(p *api.Pod, req *podRequest, n *nodeInfo) []string

// filters run in this order; a node is rejected for the first that fails,
// as in the Kubernetes scheduler.
var filters = []filter{nodeReady, nodeSchedulable, taintsTolerated, nodeSelectorMatches, nodeAffinityMatches, hostPortsFree, resourcesFit,
	topologySpreadFits, podAffinityFits}

// fits runs the filters; it returns nil if the node fits.
func fits(p *api.Pod, req *podRequest, n *nodeInfo) []string {
	for _, f := range filters {
		if reasons := f(p, req, n); len(reasons) > 0 {
			return reasons
		}
	}
	return nil
}

func nodeReady(_ *api.Pod, _ *podRequest, n *nodeInfo) []string {
	c := api.FindCondition(n.node.Status.Conditions, api.NodeReady)
	if c == nil || c.Status != api.ConditionTrue {
		return []string{reasonNotReady}
	}
	return nil
}

// nodeSchedulable keeps new pods off a cordoned node, except pods that
// tolerate node.kubernetes.io/unschedulable (the DaemonSet controller
// gives its pods that toleration, as Kubernetes does: daemons run on
// cordoned nodes).
func nodeSchedulable(p *api.Pod, _ *podRequest, n *nodeInfo) []string {
	unschedulable := []api.Taint{{Key: api.TaintUnschedulable, Effect: api.TaintNoSchedule}}
	if n.node.Spec.Unschedulable && api.UntoleratedTaint(unschedulable, p.Spec.Tolerations, api.TaintNoSchedule) != nil {
		return []string{reasonUnschedulable}
	}
	return nil
}

func taintsTolerated(p *api.Pod, _ *podRequest, n *nodeInfo) []string {
	if t := api.UntoleratedTaint(n.node.Spec.Taints, p.Spec.Tolerations, api.TaintNoSchedule, api.TaintNoExecute); t != nil {
		return []string{fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)}
	}
	return nil
}

func nodeSelectorMatches(p *api.Pod, _ *podRequest, n *nodeInfo) []string {
	for k, v := range p.Spec.NodeSelector {
		if have, ok := n.node.Labels[k]; !ok || have != v {
			return []string{reasonSelector}
		}
	}
	return nil
}

// nodeAffinityMatches checks the pod's required node affinity.
func nodeAffinityMatches(p *api.Pod, _ *podRequest, n *nodeInfo) []string {
	if !api.MatchesNodeAffinity(&p.Spec, n.node) {
		return []string{reasonSelector}
	}
	return nil
}

func hostPortsFree(_ *api.Pod, req *podRequest, n *nodeInfo) []string {
	for _, want := range req.ports {
		for used := range n.ports {
			if portsConflict(want, used) {
				return []string{reasonPorts}
			}
		}
	}
	return nil
}

// portsConflict: the same port and protocol, on the same address or where
// either side binds every address.
func portsConflict(a, b hostPort) bool {
	if a.port != b.port || a.protocol != b.protocol {
		return false
	}
	return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0"
}

// resourcesFit compares the pod's requests with what the node's pods leave
// of its allocatable resources; every resource short is a reason.
func resourcesFit(_ *api.Pod, req *podRequest, n *nodeInfo) []string {
	var reasons []string
	if maxPods, ok := n.allocatable(api.ResourcePods); ok && int64(len(n.pods))+1 > maxPods.Value() {
		reasons = append(reasons, reasonPods)
	}
	if req.res.milliCPU > 0 {
		if q, _ := n.allocatable(api.ResourceCPU); n.requested.milliCPU+req.res.milliCPU > q.MilliValue() {
			reasons = append(reasons, reasonCPU)
		}
	}
	if req.res.memory > 0 {
		if q, _ := n.allocatable(api.ResourceMemory); n.requested.memory+req.res.memory > q.Value() {
			reasons = append(reasons, reasonMemory)
		}
	}
	return reasons
}
