package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// kubectlOut runs the installed kubectl against the host's agent with the
// admin kubeconfig (its server pointed at this host) and returns stdout; a
// failure fails the test with stderr.
func (h *clusterHost) kubectlOut(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	global := []string{"--kubeconfig", h.kubeconfig, "--server", h.url, "--request-timeout", "60s"}
	cmd := exec.Command(kubectlBin(t), append(global, args...)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(t.TempDir(), "kubectl-cache"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// antiAffineDeployment is a Deployment whose pods may not share a host.
const antiAffineDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: db, labels: {app: db}}
spec:
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 5
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: db}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["serve", "--port", "8080"]
`

// spreadGroup is a Deployment of 3 whose pods carry group=spread; pinned
// puts them all on h1, spread spreads the whole group over the hosts at
// most one apart.
func spreadGroup(name string, pinned bool) string {
	rule := `      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {matchLabels: {group: spread}}
`
	if pinned {
		rule = "      nodeSelector: {kubernetes.io/hostname: h1}\n"
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: 3
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s, group: spread}}
    spec:
      terminationGracePeriodSeconds: 5
%[2]s      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["serve", "--port", "8080"]
`, name, rule)
}

// hostsOf counts the bound pods per node.
func hostsOf(pods []*api.Pod) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName]++
		}
	}
	return out
}

// On 3 hosts, with the real kubectl: a Deployment of 3 with required
// anti-affinity on the hostname runs one pod per host; scaled to 4, the
// fourth stays Pending with a FailedScheduling event naming the rule; a
// topology spread constraint over a group of pods, 3 of them pinned to h1,
// puts the group's next 3 on the other hosts.
func TestClusterPodAntiAffinityAndTopologySpread(t *testing.T) {
	c := startCluster(t, 3)
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	// Every node carries its hostname label, the topology key used here.
	for _, n := range []string{"h1", "h2", "h3"} {
		if got := h1.kubectlOut(t, "", "get", "node", n, "-o", `jsonpath={.metadata.labels.kubernetes\.io/hostname}`); got != n {
			t.Fatalf("node %s has kubernetes.io/hostname=%q", n, got)
		}
	}

	h1.kubectlOut(t, antiAffineDeployment, "apply", "-f", "-")
	took := poll.Until(t, 120*time.Second, "3 db pods ready, one per host", func() error {
		pods := h1.pods(t, "default", "app=db")
		if n := readyPods(pods); n != 3 {
			return fmt.Errorf("%d ready: %s", n, podFingerprint(pods))
		}
		if hosts := hostsOf(pods); len(hosts) != 3 {
			return fmt.Errorf("not one per host: %v", hosts)
		}
		return nil
	})
	t.Logf("3 anti-affine pods ready %s after apply: %s", took.Round(100*time.Millisecond), podFingerprint(h1.pods(t, "default", "app=db")))

	h1.kubectlOut(t, "", "scale", "deployment", "db", "--replicas", "4")
	want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
	var pending string
	poll.Until(t, 60*time.Second, "the fourth db pod Pending with FailedScheduling", func() error {
		pods := h1.pods(t, "default", "app=db")
		if len(pods) != 4 {
			return fmt.Errorf("%d pods: %s", len(pods), podFingerprint(pods))
		}
		pending = ""
		for _, p := range pods {
			if p.Spec.NodeName == "" {
				pending = p.Name
				c := api.FindCondition(p.Status.Conditions, api.PodScheduled)
				if p.Status.Phase != api.PodPending || c == nil || c.Status != api.ConditionFalse || c.Message != want {
					return fmt.Errorf("%s: phase %q, PodScheduled %+v", p.Name, p.Status.Phase, c)
				}
			}
		}
		if pending == "" {
			t.Fatalf("all 4 anti-affine pods bound on 3 hosts: %s", podFingerprint(pods))
		}
		out := h1.kubectlOut(t, "", "get", "events", "--field-selector", "involvedObject.name="+pending, "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
		if !strings.Contains(out, "FailedScheduling: "+want) {
			return fmt.Errorf("events of %s:\n%s", pending, out)
		}
		return nil
	})
	// It stays Pending: no host can take it while the others run.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if hosts := hostsOf(h1.pods(t, "default", "app=db")); hosts["h1"] != 1 || hosts["h2"] != 1 || hosts["h3"] != 1 {
			t.Fatalf("anti-affine pods share a host: %v", hosts)
		}
	}

	// 3 pods of the group pinned to h1; then 3 more spread with the whole
	// group in view: none may join h1 (3 there, 0 elsewhere), though
	// spreading their own Deployment alone would put one there.
	h1.kubectlOut(t, spreadGroup("pinned", true), "apply", "-f", "-")
	poll.Until(t, 120*time.Second, "3 pinned pods ready on h1", func() error {
		pods := h1.pods(t, "default", "app=pinned")
		if n, hosts := readyPods(pods), hostsOf(pods); n != 3 || hosts["h1"] != 3 {
			return fmt.Errorf("%d ready: %s", n, podFingerprint(pods))
		}
		return nil
	})
	h1.kubectlOut(t, spreadGroup("spread", false), "apply", "-f", "-")
	poll.Until(t, 120*time.Second, "3 spread pods ready on h2 and h3", func() error {
		pods := h1.pods(t, "default", "app=spread")
		if n := readyPods(pods); n != 3 {
			return fmt.Errorf("%d ready: %s", n, podFingerprint(pods))
		}
		hosts := hostsOf(pods)
		if hosts["h1"] != 0 {
			t.Fatalf("a spread pod joined the 3 of its group on h1 (skew above 1): %v", hosts)
		}
		if counts := []int{hosts["h2"], hosts["h3"]}; counts[0]+counts[1] != 3 || counts[0] == 0 || counts[1] == 0 {
			return fmt.Errorf("not 2 and 1 on h2 and h3: %v", hosts)
		}
		return nil
	})
}
