package scheduler

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func q(s string) api.Quantity { return api.MustParseQuantity(s) }

func testNode(name, cpu, mem string, mods ...func(*api.Node)) *api.Node {
	n := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}},
		Status: api.NodeStatus{
			Capacity:    api.ResourceList{api.ResourceCPU: q(cpu), api.ResourceMemory: q(mem), api.ResourcePods: q("110")},
			Allocatable: api.ResourceList{api.ResourceCPU: q(cpu), api.ResourceMemory: q(mem), api.ResourcePods: q("110")},
			Conditions:  []api.Condition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func testPod(name, cpu, mem string, mods ...func(*api.Pod)) *api.Pod {
	c := api.Container{Name: "app", Image: "img:v1"}
	if cpu != "" || mem != "" {
		c.Resources.Requests = api.ResourceList{}
		if cpu != "" {
			c.Resources.Requests[api.ResourceCPU] = q(cpu)
		}
		if mem != "" {
			c.Resources.Requests[api.ResourceMemory] = q(mem)
		}
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: api.PodSpec{Containers: []api.Container{c}}}
	for _, m := range mods {
		m(p)
	}
	return p
}

func onNode(node string) func(*api.Pod) { return func(p *api.Pod) { p.Spec.NodeName = node } }

func withPort(port int32, proto, ip string) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports,
			api.ContainerPort{ContainerPort: 80, HostPort: port, Protocol: proto, HostIP: ip})
	}
}

func tolerating(tols ...api.Toleration) func(*api.Pod) {
	return func(p *api.Pod) { p.Spec.Tolerations = tols }
}

func tainted(taints ...api.Taint) func(*api.Node) {
	return func(n *api.Node) { n.Spec.Taints = taints }
}

func runFilter(f filter, p *api.Pod, n *nodeInfo) string {
	req := computeRequest(p)
	return strings.Join(f(p, &req, n), "; ")
}

func TestNodeReadyAndSchedulable(t *testing.T) {
	cases := []struct {
		name string
		node *api.Node
		want string
	}{
		{"ready", testNode("a", "1", "1Gi"), ""},
		{"not ready", testNode("a", "1", "1Gi", func(n *api.Node) { n.Status.Conditions[0].Status = api.ConditionFalse }), reasonNotReady},
		{"no condition yet", testNode("a", "1", "1Gi", func(n *api.Node) { n.Status.Conditions = nil }), reasonNotReady},
		{"container engine down", testNode("a", "1", "1Gi", func(n *api.Node) {
			n.Status.Conditions[0] = api.Condition{Type: api.NodeReady, Status: api.ConditionFalse, Reason: "KubeletNotReady",
				Message: "container runtime is down: engine ping: connection refused"}
		}), reasonNotReady},
		{"cordoned", testNode("a", "1", "1Gi", func(n *api.Node) { n.Spec.Unschedulable = true }), reasonUnschedulable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(fits(testPod("p", "", ""), &podRequest{}, newNodeInfo(tc.node)), "; ")
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTaintsAndTolerations(t *testing.T) {
	noSched := api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintNoSchedule}
	noExec := api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintNoExecute}
	prefer := api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintPreferNoSche}
	untolerated := "node(s) had untolerated taint {dedicated: db}"
	cases := []struct {
		name  string
		taint api.Taint
		tols  []api.Toleration
		want  string
	}{
		{"no toleration", noSched, nil, untolerated},
		{"equal key value effect", noSched, []api.Toleration{{Key: "dedicated", Operator: "Equal", Value: "db", Effect: api.TaintNoSchedule}}, ""},
		{"no operator means equal", noSched, []api.Toleration{{Key: "dedicated", Value: "db"}}, ""},
		{"equal, other value", noSched, []api.Toleration{{Key: "dedicated", Operator: "Equal", Value: "web"}}, untolerated},
		{"exists ignores the value", noSched, []api.Toleration{{Key: "dedicated", Operator: "Exists"}}, ""},
		{"empty key with exists tolerates all", noExec, []api.Toleration{{Operator: "Exists"}}, ""},
		{"empty effect matches every effect", noExec, []api.Toleration{{Key: "dedicated", Operator: "Exists"}}, ""},
		{"other effect", noSched, []api.Toleration{{Key: "dedicated", Operator: "Exists", Effect: api.TaintNoExecute}}, untolerated},
		{"other key", noSched, []api.Toleration{{Key: "gpu", Operator: "Exists"}}, untolerated},
		{"NoExecute needs tolerating too", noExec, nil, untolerated},
		{"PreferNoSchedule does not filter", prefer, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNodeInfo(testNode("a", "1", "1Gi", tainted(tc.taint)))
			if got := runFilter(taintsTolerated, testPod("p", "", "", tolerating(tc.tols...)), n); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNodeSelector(t *testing.T) {
	n := newNodeInfo(testNode("a", "1", "1Gi", func(n *api.Node) { n.Labels["disk"] = "ssd" }))
	cases := []struct {
		sel  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"disk": "ssd"}, ""},
		{map[string]string{"disk": "ssd", api.LabelHostname: "a"}, ""},
		{map[string]string{"disk": "hdd"}, reasonSelector},
		{map[string]string{"gpu": "yes"}, reasonSelector},
	}
	for _, tc := range cases {
		p := testPod("p", "", "", func(p *api.Pod) { p.Spec.NodeSelector = tc.sel })
		if got := runFilter(nodeSelectorMatches, p, n); got != tc.want {
			t.Errorf("selector %v: got %q, want %q", tc.sel, got, tc.want)
		}
	}
}

func TestHostPorts(t *testing.T) {
	cases := []struct {
		name      string
		used, new func(*api.Pod)
		want      string
	}{
		{"same port and protocol", withPort(8080, "TCP", ""), withPort(8080, "", ""), reasonPorts},
		{"other protocol", withPort(8080, "UDP", ""), withPort(8080, "TCP", ""), ""},
		{"other port", withPort(8080, "TCP", ""), withPort(8081, "TCP", ""), ""},
		{"all addresses against one", withPort(8080, "TCP", ""), withPort(8080, "TCP", "10.0.0.1"), reasonPorts},
		{"one address against all", withPort(8080, "TCP", "10.0.0.1"), withPort(8080, "TCP", "0.0.0.0"), reasonPorts},
		{"two different addresses", withPort(8080, "TCP", "10.0.0.1"), withPort(8080, "TCP", "10.0.0.2"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNodeInfo(testNode("a", "1", "1Gi"), testPod("old", "", "", onNode("a"), tc.used))
			if got := runFilter(hostPortsFree, testPod("p", "", "", tc.new), n); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResourcesFit(t *testing.T) {
	full := newNodeInfo(testNode("a", "2", "4Gi"), testPod("old", "1500m", "3Gi", onNode("a")))
	cases := []struct {
		name string
		pod  *api.Pod
		node *nodeInfo
		want string
	}{
		{"fits what is left", testPod("p", "500m", "1Gi"), full, ""},
		{"cpu short", testPod("p", "600m", "1Gi"), full, reasonCPU},
		{"memory short", testPod("p", "100m", "2Gi"), full, reasonMemory},
		{"both short", testPod("p", "1", "2Gi"), full, reasonCPU + "; " + reasonMemory},
		{"no requests fit anywhere", testPod("p", "", ""), full, ""},
		{"a limit without a request counts", testPod("p", "", "", func(p *api.Pod) {
			p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceMemory: q("2Gi")}
		}), full, reasonMemory},
		{"pod count", testPod("p", "", ""), newNodeInfo(testNode("a", "2", "4Gi", func(n *api.Node) {
			n.Status.Allocatable[api.ResourcePods] = q("1")
		}), testPod("old", "", "", onNode("a"))), reasonPods},
		{"capacity when no allocatable", testPod("p", "1", ""), newNodeInfo(testNode("a", "2", "4Gi", func(n *api.Node) {
			n.Status.Allocatable = nil
		})), ""},
		{"a node reporting nothing takes no requests", testPod("p", "1", ""), newNodeInfo(&api.Node{ObjectMeta: api.ObjectMeta{Name: "x"}}), reasonCPU},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := runFilter(resourcesFit, tc.pod, tc.node); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestComputeRequest(t *testing.T) {
	p := testPod("p", "250m", "64Mi", func(p *api.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "side", Image: "i",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: q("250m")}}})
		p.Spec.InitContainers = []api.Container{{Name: "init", Image: "i",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceMemory: q("1Gi")}}}}
	})
	r := computeRequest(p)
	if r.res.milliCPU != 500 || r.res.memory != 1<<30 {
		t.Fatalf("effective request %+v, want 500m and the init container's 1Gi", r.res)
	}
	// The side container asks no memory: it counts the default for scoring.
	if r.nonzero.milliCPU != 500 || r.nonzero.memory != 1<<30 {
		t.Fatalf("nonzero %+v", r.nonzero)
	}
	if r := computeRequest(testPod("e", "", "")); r.res != (resources{}) || r.nonzero != (resources{defaultMilliCPU, defaultMemory}) {
		t.Fatalf("empty pod: %+v", r)
	}
}

func TestRequiredNodeAffinity(t *testing.T) {
	n := newNodeInfo(testNode("a", "1", "1Gi", func(n *api.Node) { n.Labels["disk"] = "ssd" }))
	term := func(exprs, fields []api.NodeSelectorRequirement) api.NodeSelectorTerm {
		return api.NodeSelectorTerm{MatchExpressions: exprs, MatchFields: fields}
	}
	req := func(k, op string, v ...string) []api.NodeSelectorRequirement {
		return []api.NodeSelectorRequirement{{Key: k, Operator: op, Values: v}}
	}
	cases := []struct {
		name  string
		terms []api.NodeSelectorTerm
		want  string
	}{
		{"pinned to it by name", []api.NodeSelectorTerm{term(nil, req(api.FieldNodeName, api.OpIn, "a"))}, ""},
		{"pinned to another", []api.NodeSelectorTerm{term(nil, req(api.FieldNodeName, api.OpIn, "b"))}, reasonSelector},
		{"label in", []api.NodeSelectorTerm{term(req("disk", api.OpIn, "ssd", "nvme"), nil)}, ""},
		{"label not in", []api.NodeSelectorTerm{term(req("disk", api.OpNotIn, "ssd"), nil)}, reasonSelector},
		{"label absent, not in", []api.NodeSelectorTerm{term(req("gpu", api.OpNotIn, "yes"), nil)}, ""},
		{"exists", []api.NodeSelectorTerm{term(req("disk", api.OpExists), nil)}, ""},
		{"does not exist", []api.NodeSelectorTerm{term(req("disk", api.OpDoesNotExist), nil)}, reasonSelector},
		{"terms are ORed", []api.NodeSelectorTerm{term(req("gpu", api.OpExists), nil), term(req("disk", api.OpExists), nil)}, ""},
		{"an empty term matches nothing", []api.NodeSelectorTerm{{}}, reasonSelector},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPod("p", "", "", func(p *api.Pod) {
				p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{NodeSelectorTerms: tc.terms}}}
			})
			if got := runFilter(nodeAffinityMatches, p, n); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A cordoned node takes only pods that tolerate the cordon, as daemon
// pods do.
func TestCordonedNodeTakesDaemonPods(t *testing.T) {
	n := newNodeInfo(testNode("a", "1", "1Gi", func(n *api.Node) { n.Spec.Unschedulable = true }))
	daemon := testPod("p", "", "", tolerating(api.Toleration{Key: api.TaintUnschedulable, Operator: "Exists", Effect: api.TaintNoSchedule}))
	if got := runFilter(nodeSchedulable, daemon, n); got != "" {
		t.Errorf("daemon pod on a cordoned node: %q", got)
	}
	if got := runFilter(nodeSchedulable, testPod("p", "", ""), n); got != reasonUnschedulable {
		t.Errorf("other pod on a cordoned node: %q", got)
	}
}
