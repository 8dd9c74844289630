package integration

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// podByUID maps the pods of `shoal get pods -o json`.
func cliPods(t *testing.T, a *agent, selector string) map[string]api.Pod {
	t.Helper()
	out := a.shoal("get", "pods", "-l", selector, "-o", "json")
	var list api.List[api.Pod]
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("get pods -o json: %v\n%s", err, out)
	}
	if list.Kind != "PodList" {
		t.Fatalf("get pods -o json printed kind %q", list.Kind)
	}
	m := map[string]api.Pod{}
	for _, p := range list.Items {
		m[p.UID] = p
	}
	return m
}

func waitReady(t *testing.T, a *agent, selector string, n int, within time.Duration) []*api.Pod {
	t.Helper()
	var pods []*api.Pod
	poll.Until(t, within, fmt.Sprintf("%d ready pods for %s", n, selector), func() error {
		pods = a.pods(t, "default", selector)
		live := 0
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		if r := readyPods(pods); r != n || live != n {
			return fmt.Errorf("%d ready of %d live pods", r, live)
		}
		if apps := runningApps(t, a.name); len(apps) != n {
			return fmt.Errorf("%d app containers running", len(apps))
		}
		return nil
	})
	return pods
}

func TestDeploymentRunsHealsSurvivesRestartsAndScales(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(deploymentYAML("web", 3, testImage)), "apply", "-f", "-")
	pods := waitReady(t, a, "app=web", 3, 60*time.Second)

	// The CLI's view agrees with the engine's, label for label.
	fromCLI := cliPods(t, a, "app=web")
	apps := runningApps(t, a.name)
	if len(fromCLI) != 3 || len(apps) != 3 {
		t.Fatalf("cli shows %d pods, engine runs %d app containers", len(fromCLI), len(apps))
	}
	for _, c := range apps {
		p, ok := fromCLI[c.Labels["io.shoal.pod.uid"]]
		if !ok {
			t.Fatalf("container %s has pod uid %s that the API does not know", c.Names, c.Labels["io.shoal.pod.uid"])
		}
		if c.Labels["io.shoal.pod.name"] != p.Name || c.Labels["io.shoal.pod.namespace"] != "default" || c.Labels["io.shoal.container.name"] != "app" {
			t.Fatalf("container labels %v do not match pod %s", c.Labels, p.Name)
		}
		if p.Status.Phase != api.PodRunning || p.Status.PodIP == "" || p.Status.ContainerStatuses[0].ContainerID != "docker://"+c.ID {
			t.Fatalf("pod %s status does not match its container: %+v", p.Name, p.Status)
		}
	}

	t.Run("docker kill restarts the container within 2s", func(t *testing.T) {
		victim := pods[0]
		var id string
		for _, c := range runningApps(t, a.name) {
			if c.Labels["io.shoal.pod.uid"] == victim.UID {
				id = c.ID
			}
		}
		start := time.Now()
		docker(t, "kill", id)
		poll.Until(t, 2*time.Second, "pod running again with restartCount 1", func() error {
			p, err := a.client.Get(ctx(t), api.KindPod, "default", victim.Name)
			if err != nil {
				return err
			}
			st := p.(*api.Pod).Status
			if len(st.ContainerStatuses) == 0 || st.ContainerStatuses[0].RestartCount != 1 || st.ContainerStatuses[0].State.Running == nil || st.Phase != api.PodRunning {
				return fmt.Errorf("status %+v", st.ContainerStatuses)
			}
			return nil
		})
		t.Logf("container death to running again: %s", time.Since(start).Round(time.Millisecond))
		// The killed container's output stays readable.
		prev := a.shoal("logs", "--previous", victim.Name)
		if !strings.Contains(prev, "serving on") {
			t.Fatalf("logs --previous: %q", prev)
		}
	})

	t.Run("docker rm -f of the container holding a pod's network recreates the pod", func(t *testing.T) {
		// A pod of one container has no sandbox: its container holds the
		// network, and goes.
		victim := pods[1]
		var holder string
		for _, c := range runningNetworkHolders(t, a.name) {
			if c.Labels["io.shoal.pod.uid"] == victim.UID {
				holder = c.ID
			}
		}
		if holder == "" {
			t.Fatalf("no container holds the network of pod %s", victim.Name)
		}
		docker(t, "rm", "-f", holder)
		poll.Until(t, 20*time.Second, "pod re-created in a new network namespace", func() error {
			var newHolder string
			for _, c := range runningNetworkHolders(t, a.name) {
				if c.Labels["io.shoal.pod.uid"] == victim.UID {
					newHolder = c.ID
				}
			}
			if newHolder == "" || newHolder == holder {
				return fmt.Errorf("no new network holder yet")
			}
			n := 0
			for _, c := range runningApps(t, a.name) {
				if c.Labels["io.shoal.pod.uid"] == victim.UID {
					if c.ID != newHolder && c.Labels["io.shoal.sandbox.id"] != newHolder {
						return fmt.Errorf("app container still in the old namespace")
					}
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("%d app containers for the pod", n)
			}
			p, err := a.client.Get(ctx(t), api.KindPod, "default", victim.Name)
			if err != nil {
				return err
			}
			if !api.IsPodReady(p.(*api.Pod)) {
				return fmt.Errorf("pod not ready")
			}
			return nil
		})
	})

	uids := func() []string {
		var u []string
		for _, p := range a.pods(t, "default", "app=web") {
			u = append(u, p.UID)
		}
		sort.Strings(u)
		return u
	}
	before := uids()

	t.Run("kill -9 of the agent duplicates nothing and loses nothing", func(t *testing.T) {
		a.stop(syscall.SIGKILL)
		if n := len(runningApps(t, a.name)); n != 3 {
			t.Fatalf("%d app containers running while the agent is down, want 3", n)
		}
		a.start()
		waitReady(t, a, "app=web", 3, 30*time.Second)
		// Give the restarted agent a few resyncs to do anything wrong.
		time.Sleep(3 * time.Second)
		if got := uids(); strings.Join(got, ",") != strings.Join(before, ",") {
			t.Fatalf("pods changed across the restart: %v -> %v", before, got)
		}
		if n, s := len(runningApps(t, a.name)), len(runningNetworkHolders(t, a.name)); n != 3 || s != 3 {
			t.Fatalf("after restart: %d app containers and %d network holders running, want 3 and 3", n, s)
		}
		if _, err := a.client.Get(ctx(t), api.KindDeployment, "default", "web"); err != nil {
			t.Fatalf("deployment lost: %v", err)
		}
	})

	t.Run("SIGTERM stops the agent and leaves containers running", func(t *testing.T) {
		a.stop(syscall.SIGTERM)
		if n := len(runningApps(t, a.name)); n != 3 {
			t.Fatalf("%d app containers running after SIGTERM, want 3", n)
		}
		a.start()
		waitReady(t, a, "app=web", 3, 30*time.Second)
	})

	t.Run("scale to 5 and back to 1", func(t *testing.T) {
		a.shoal("scale", "deployment/web", "--replicas", "5")
		waitReady(t, a, "app=web", 5, 60*time.Second)
		a.shoal("scale", "deployment/web", "--replicas", "1")
		waitReady(t, a, "app=web", 1, 60*time.Second)
	})

	t.Run("deleting the deployment removes every container", func(t *testing.T) {
		a.shoal("delete", "deployment", "web")
		poll.Until(t, 60*time.Second, "no container left", func() error {
			if n := len(dockerPS(t, a.name)); n != 0 {
				return fmt.Errorf("%d containers remain", n)
			}
			if p := a.pods(t, "default", "app=web"); len(p) != 0 {
				return fmt.Errorf("%d pods remain", len(p))
			}
			objs, _, err := a.client.List(ctx(t), api.KindReplicaSet, "default", api.ListOptions{})
			if err != nil || len(objs) != 0 {
				return fmt.Errorf("%d replicasets remain (%v)", len(objs), err)
			}
			return nil
		})
	})
}

func TestNodeRegistersWithEngineCapacityAndLabels(t *testing.T) {
	a := startAgent(t, "--node-labels", "zone=a,disk=ssd")
	obj, err := a.client.Get(ctx(t), api.KindNode, "", a.name)
	if err != nil {
		t.Fatal(err)
	}
	n := obj.(*api.Node)
	if n.Labels["kubernetes.io/hostname"] != a.name || n.Labels["zone"] != "a" || n.Labels["disk"] != "ssd" {
		t.Fatalf("labels %v", n.Labels)
	}
	var engineCPU int64
	var engineMem int64
	fmt.Sscan(docker(t, "info", "-f", "{{.NCPU}}"), &engineCPU)
	fmt.Sscan(docker(t, "info", "-f", "{{.MemTotal}}"), &engineMem)
	cpu, mem := n.Status.Allocatable[api.ResourceCPU], n.Status.Capacity[api.ResourceMemory]
	if cpu.MilliValue() != engineCPU*1000 || mem.Value() != engineMem {
		t.Fatalf("capacity cpu %s memory %s; the engine reports %d CPUs and %d bytes", cpu.String(), mem.String(), engineCPU, engineMem)
	}
	if c := api.FindCondition(n.Status.Conditions, api.NodeReady); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("node not Ready: %+v", n.Status.Conditions)
	}
	out := a.shoal("get", "nodes")
	if !strings.Contains(out, a.name) || !strings.Contains(out, "Ready") {
		t.Fatalf("get nodes:\n%s", out)
	}
	if v := a.shoal("version"); !strings.Contains(v, "Server Version: v") {
		t.Fatalf("version does not show the agent's: %q", v)
	}
}
