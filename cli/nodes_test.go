package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/api/printers"
	"github.com/shoal-dev/shoal/internal/poll"
)

// node is a host as its agent registers it: Ready (or the given status),
// its address, and what the engine offers.
func node(name, ip, ready string, cpu, memory string, created time.Duration) *api.Node {
	alloc := api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(memory),
		api.ResourcePods: api.MustParseQuantity("110")}
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: ago(created), Labels: map[string]string{api.LabelHostname: name}},
		Status: api.NodeStatus{Capacity: alloc, Allocatable: alloc,
			Conditions: []api.Condition{{Type: api.NodeReady, Status: ready}},
			Addresses:  []api.NodeAddress{{Type: api.NodeInternalIP, Address: ip}, {Type: api.NodeHostName, Address: name}},
			NodeInfo: api.NodeInfo{KubeletVersion: "v0.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.1.0-18-amd64",
				ContainerRuntimeVersion: "docker://20.10.24"}},
	}
}

// boundPod is a running pod on a node asking for cpu and memory ("" for none).
func boundPod(ns, name, nodeName, cpu, memory string) *api.Pod {
	p := running(name, ns, ago(5*time.Minute))
	p.Spec.NodeName = nodeName
	req := api.ResourceList{}
	if cpu != "" {
		req[api.ResourceCPU] = api.MustParseQuantity(cpu)
	}
	if memory != "" {
		req[api.ResourceMemory] = api.MustParseQuantity(memory)
	}
	p.Spec.Containers[0].Resources.Requests = req
	return p
}

// nodeFixture: h1 (a control-plane role, 8 GB as the engine reports it to
// the byte) runs two pods; h2 is cordoned and runs a pod that only sets
// limits and one whose init container asks for more than its app; h3's
// agent is gone. A finished pod and an unbound one take nothing.
func nodeFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	h1 := node("h1", "10.213.0.11", api.ConditionTrue, "2", "8337825792", 26*time.Hour)
	h1.Labels["node-role.kubernetes.io/control-plane"] = ""
	h2 := node("h2", "10.213.0.12", api.ConditionTrue, "4", "16Gi", 3*time.Hour)
	h2.Spec.Unschedulable = true
	h3 := node("h3", "10.213.0.13", api.ConditionUnknown, "2", "24000000000", 90*time.Minute)

	limitsOnly := boundPod("team", "db-0", "h2", "", "")
	limitsOnly.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1"),
		api.ResourceMemory: api.MustParseQuantity("1Gi")}
	withInit := boundPod("default", "migrate", "h2", "500m", "32Mi")
	withInit.Spec.InitContainers = []api.Container{{Name: "schema", Image: "tool", Resources: api.ResourceRequirements{
		Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("2")}}}}
	done := boundPod("default", "job-x", "h1", "1", "1Gi")
	done.Status.Phase = api.PodSucceeded
	srv.Add(h3, h1, h2, limitsOnly, withInit, done,
		boundPod("default", "web-1", "h1", "250m", "64Mi"),
		boundPod("default", "web-2", "h1", "100m", "100M"),
		boundPod("default", "pending", "", "4", "1Gi"))
	return srv
}

func TestGetNodesTable(t *testing.T) {
	srv := nodeFixture(t)
	r := shoal(t, srv, "", "get", "nodes")
	expectOK(t, r)
	want := `NAME   STATUS                     ROLES           AGE   ADDRESS       PODS    CPU(REQ/ALLOC)   MEMORY(REQ/ALLOC)
h1     Ready                      control-plane   26h   10.213.0.11   2/110   350m/2           159Mi/7.8Gi
h2     Ready,SchedulingDisabled   <none>          3h    10.213.0.12   2/110   3/4              1056Mi/16Gi
h3     NotReady                   <none>          90m   10.213.0.13   0/110   0/2              0/22Gi
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	// One list of nodes, one of pods in every namespace for the sums.
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/api/v1/nodes" || reqs[1].Path != "/api/v1/pods" {
		t.Fatalf("requests: %+v", reqs)
	}
}

func TestGetNodesWideAndByName(t *testing.T) {
	srv := nodeFixture(t)
	r := shoal(t, srv, "", "get", "no", "h2", "-o", "wide")
	expectOK(t, r)
	// h2 publishes nothing about its pod network: an older agent, host-gw.
	want := `NAME   STATUS                     ROLES    AGE   ADDRESS       PODS    CPU(REQ/ALLOC)   MEMORY(REQ/ALLOC)   VERSION   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME   BACKEND
h2     Ready,SchedulingDisabled   <none>   3h    10.213.0.12   2/110   3/4              1056Mi/16Gi         v0.1.0    Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   docker://20.10.24   host-gw
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestGetNodesDocumentsNeedNoPods(t *testing.T) {
	srv := nodeFixture(t)
	for _, format := range []string{"json", "yaml", "name"} {
		before := len(srv.Requests())
		r := shoal(t, srv, "", "get", "nodes", "-o", format)
		expectOK(t, r)
		for _, q := range srv.Requests()[before:] {
			if strings.Contains(q.Path, "pods") {
				t.Errorf("-o %s listed pods", format)
			}
		}
	}
	r := shoal(t, srv, "", "get", "nodes", "-o", "json")
	var list struct {
		Kind  string
		Items []api.Node
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || list.Kind != "NodeList" || len(list.Items) != 3 {
		t.Fatalf("%v %s %d", err, list.Kind, len(list.Items))
	}
}

func TestNodeTableWithoutLoads(t *testing.T) {
	n := node("h9", "", api.ConditionFalse, "2", "1Gi", time.Minute)
	n.Status.Conditions = nil
	n.Status.Addresses = nil
	n.Status.NodeInfo = api.NodeInfo{}
	n.Annotations = map[string]string{api.AnnotationPodNetworkBackend: "auto", api.AnnotationBackendsInUse: "host-gw,vxlan"}
	var b bytes.Buffer
	// loads nil: the pods could not be listed (a token limited to a namespace).
	if err := newTablePrinter(&b, api.KindNode, tableOptions{wide: true}, fixedNow).print([]api.Object{n}); err != nil {
		t.Fatal(err)
	}
	want := "NAME   STATUS    ROLES    AGE   ADDRESS   PODS        CPU(REQ/ALLOC)   MEMORY(REQ/ALLOC)   VERSION     OS-IMAGE    KERNEL-VERSION   CONTAINER-RUNTIME   BACKEND\n" +
		"h9     Unknown   <none>   60s   <none>    <unknown>   <unknown>        <unknown>           <unknown>   <unknown>   <unknown>        <unknown>           host-gw,vxlan\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	n.Status.Conditions = []api.Condition{{Type: api.NodeReady, Status: api.ConditionFalse}}
	if got := printers.NodeStatus(n); got != "NotReady" {
		t.Fatalf("Ready=False: %s", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		want string
	}{
		{0, "0"},
		{512, "512"},
		{1024, "1Ki"},
		{64 << 20, "64Mi"},
		{1536 << 20, "1536Mi"},
		{1536<<20 + 1, "1.5Gi"},
		{100_000_000, "95Mi"},
		{8337825792, "7.8Gi"},
		{10<<30 - 1<<20, "10Gi"},
		{23 << 30, "23Gi"},
		{1<<30 - 1<<18, "1Gi"},
		{3 << 40, "3Ti"},
		{1056 << 20, "1056Mi"},
		{1<<30 + 50<<20, "1074Mi"},
		{1<<30 + 50<<20 + 1, "1.0Gi"},
		{10239 << 20, "10Gi"},
	} {
		if got := printers.HumanBytes(tc.v); got != tc.want {
			t.Errorf("printers.HumanBytes(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestDescribeNodeAllocatedResources(t *testing.T) {
	srv := nodeFixture(t)
	r := shoal(t, srv, "", "describe", "node", "h2")
	expectOK(t, r)
	expectField(t, r.stdout, "", "Unschedulable", "true")
	i := strings.Index(r.stdout, "Non-terminated Pods:")
	j := strings.Index(r.stdout, "Events:")
	if i < 0 || j < i {
		t.Fatalf("no pods section:\n%s", r.stdout)
	}
	want := `Non-terminated Pods:          (2 in total)
  Namespace                   Name     CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
  ---------                   ----     ------------  ----------  ---------------  -------------  ---
  default                     migrate  2 (50%)       0 (0%)      32Mi (0%)        0 (0%)         5m
  team                        db-0     1 (25%)       1 (25%)     1Gi (6%)         1Gi (6%)       5m
Allocated resources:
  (Total limits may be over 100 percent, i.e., overcommitted.)
  Resource  Requests     Limits
  --------  --------     ------
  cpu       3 (75%)      1 (25%)
  memory    1056Mi (6%)  1Gi (6%)
`
	if got := r.stdout[i:j]; got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	r = shoal(t, srv, "", "describe", "node", "h3")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "Non-terminated Pods:          (0 in total)\nAllocated resources:\n") ||
		!regexp.MustCompile(`\n  cpu +0 \(0%\) +0 \(0%\)\n  memory +0 \(0%\) +0 \(0%\)\n`).MatchString(r.stdout) {
		t.Fatalf("an empty node:\n%s", r.stdout)
	}
}

func TestGetNodesWatchRereadsTheSums(t *testing.T) {
	srv := nodeFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "get", "nodes", "h3", "-w") }()
	poll.Cond(t, 5*time.Second, "condition", func() bool { return srv.Watchers() == 1 })
	srv.Add(boundPod("default", "moved", "h3", "500m", "1Gi"))
	srv.Update(api.KindNode, "", "h3", func(o api.Object) {
		o.(*api.Node).Status.Conditions[0].Status = api.ConditionTrue
	})
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Count(out.String(), "\n") == 3 })
	cancel()
	if code := <-done; code != 130 {
		t.Fatalf("exit status %d, stderr %q", code, errOut.String())
	}
	want := `NAME   STATUS     ROLES    AGE   ADDRESS       PODS    CPU(REQ/ALLOC)   MEMORY(REQ/ALLOC)
h3     NotReady   <none>   90m   10.213.0.13   0/110   0/2              0/22Gi
h3     Ready      <none>   90m   10.213.0.13   1/110   500m/2           1Gi/22Gi
`
	if got := out.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
