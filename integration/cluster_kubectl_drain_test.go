package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// kubectl runs the installed kubectl against this host with the admin
// kubeconfig and returns stdout and stderr together.
func (h *clusterHost) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kubectlBin(t), append([]string{"--kubeconfig", h.kubeconfig, "--request-timeout", "60s"}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (h *clusterHost) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := h.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestKubectlDrainWaitsOnAPodDisruptionBudget checks, on two hosts, that the
// kubernetes Service's Endpoints list both agents and that a LoadBalancer
// answers on both nodes' addresses; then it runs the real `kubectl drain`
// on a node holding both pods of a Deployment under a budget of
// minAvailable 1: kubectl evicts one, is told to wait (429) for the other
// until the first one's replacement is Ready elsewhere, then evicts it and
// ends, with both replacements Ready on the other node.
func TestKubectlDrainWaitsOnAPodDisruptionBudget(t *testing.T) {
	c := startCluster(t, 2)
	h1 := c.agent(1)
	poll.Until(t, 30*time.Second, "2 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	t.Run("the kubernetes service lists every agent", func(t *testing.T) {
		poll.Until(t, 30*time.Second, "both agents in the endpoints", func() error {
			out, err := h1.kubectl(t, "", "get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[*].addresses[*].ip} {.subsets[*].ports[*].port}")
			if err != nil || strings.TrimSpace(out) != "10.213.0.11 10.213.0.12 7480" {
				return fmt.Errorf("endpoints %q %v", out, err)
			}
			return nil
		})
		if out := h1.mustKubectl(t, "", "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].port}"); out != "10.96.0.1 443" {
			t.Errorf("service %q", out)
		}
	})
	t.Run("a load balancer answers on every node's address", func(t *testing.T) {
		h1.mustKubectl(t, deploymentYAML("lb", 1, testImage), "apply", "-f", "-")
		h1.mustKubectl(t, `apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: lb}
  ports: [{port: 8089, targetPort: 8080}]
`, "apply", "-f", "-")
		h1.mustKubectl(t, "", "wait", "service/lb", "--for=jsonpath={.status.loadBalancer.ingress[1].ip}=10.213.0.12", "--timeout=60s")
		client := &http.Client{Timeout: 3 * time.Second}
		for _, ip := range []string{"10.213.0.11", "10.213.0.12"} {
			poll.Until(t, 60*time.Second, ip+":8089 answers", func() error {
				resp, err := client.Get("http://" + ip + ":8089/")
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%s", resp.Status)
				}
				return nil
			})
		}
		h1.mustKubectl(t, "", "delete", "deployment,service", "lb")
	})

	// Both pods on h2: h1 is cordoned while they are placed.
	h1.mustKubectl(t, "", "cordon", "h1")
	h1.mustKubectl(t, deploymentYAML("web", 2, testImage), "apply", "-f", "-")
	h1.mustKubectl(t, budgetYAML, "apply", "-f", "-")
	h1.mustKubectl(t, "", "rollout", "status", "deployment/web", "--timeout=120s")
	before := h1.pods(t, "default", "app=web")
	for _, p := range before {
		if p.Spec.NodeName != "h2" {
			t.Fatalf("pod %s on %s, want h2", p.Name, p.Spec.NodeName)
		}
	}
	h1.mustKubectl(t, "", "uncordon", "h1")
	poll.Until(t, 30*time.Second, "the budget allows one disruption", func() error {
		o, err := h1.client.Get(ctx(t), api.KindPodDisruptionBudget, "default", "web")
		if err != nil {
			return err
		}
		if st := o.(*api.PodDisruptionBudget).Status; st.CurrentHealthy != 2 || st.DisruptionsAllowed != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	start := time.Now()
	out, err := h1.kubectl(t, "", "drain", "h2", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s")
	took := time.Since(start)
	t.Logf("kubectl drain took %s:\n%s", took.Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("kubectl drain: %v", err)
	}
	for _, want := range []string{"node/h2 cordoned", "evicting pod default/", "Cannot evict pod as it would violate the pod's disruption budget", "node/h2 drained"} {
		if !strings.Contains(out, want) {
			t.Errorf("the drain's output lacks %q", want)
		}
	}
	// Ended only when the pods were gone: both replacements Ready on h1.
	pods := h1.pods(t, "default", "app=web")
	ready := 0
	for _, p := range pods {
		if p.Spec.NodeName == "h2" && p.DeletionTimestamp == nil {
			t.Errorf("pod %s still on h2 after the drain", p.Name)
		}
		for _, b := range before {
			if p.UID == b.UID && p.DeletionTimestamp == nil {
				t.Errorf("pod %s was not evicted", p.Name)
			}
		}
	}
	poll.Until(t, 60*time.Second, "2 Ready pods on h1", func() error {
		ready = 0
		for _, p := range h1.pods(t, "default", "app=web") {
			if p.Spec.NodeName == "h1" && p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning && api.IsPodReady(p) {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d ready on h1", ready)
		}
		return nil
	})
	if nodes := h1.mustKubectl(t, "", "get", "nodes"); !strings.Contains(rowLine(nodes, "h2"), "SchedulingDisabled") {
		t.Errorf("h2 not cordoned:\n%s", nodes)
	}
}

// rowLine is the line of a table whose first cell is name.
func rowLine(table, name string) string {
	return strings.Join(rowOf(table, name), " ")
}
