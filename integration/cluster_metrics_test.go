package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// burnOnH2 is a pod held to host h2 that burns up to 100m of CPU.
const burnOnH2 = `apiVersion: v1
kind: Pod
metadata: {name: burn-h2, labels: {app: burn}}
spec:
  nodeSelector: {kubernetes.io/hostname: h2}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ` + testImage + `
    command: ["/bin/sh", "-c", "while :; do :; done"]
    resources:
      requests: {cpu: 50m}
      limits: {cpu: 100m}
`

// The resource metrics API answers for the whole cluster from any agent:
// h1 reports a pod running on h2 (whose agent measured it), and both
// nodes; kubectl top against h1 prints them.
func TestClusterResourceMetricsAnswerFromAnyHost(t *testing.T) {
	c := startCluster(t, 2)
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "2 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	if _, errOut, err := h1.shoalIn([]byte(burnOnH2), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	hc := h1.httpClient(t)
	get := func(path string, into any) error {
		resp, err := hc.Get(h1.url + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return json.Unmarshal(b, into)
	}
	poll.Until(t, 120*time.Second, "h1 reports the usage of the pod on h2", func() error {
		var pm api.PodMetrics
		if err := get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn-h2", &pm); err != nil {
			return err
		}
		if len(pm.Containers) != 1 {
			return fmt.Errorf("containers %+v", pm.Containers)
		}
		cpu, mem := pm.Containers[0].Usage[api.ResourceCPU], pm.Containers[0].Usage[api.ResourceMemory]
		if cpu.MilliValue() < 30 || mem.Value() < 4096 || pm.Labels["app"] != "burn" {
			return fmt.Errorf("pod metrics %+v", pm)
		}
		return nil
	})
	poll.Until(t, 60*time.Second, "h1 reports both nodes", func() error {
		var nl api.NodeMetricsList
		if err := get("/apis/metrics.k8s.io/v1beta1/nodes", &nl); err != nil {
			return err
		}
		var names []string
		for _, n := range nl.Items {
			names = append(names, n.Name)
		}
		if strings.Join(names, ",") != "h1,h2" && strings.Join(names, ",") != "h2,h1" {
			return fmt.Errorf("nodes %v", names)
		}
		return nil
	})
	cmd := exec.Command(kubectlBin(t), "--kubeconfig", h1.kubeconfig, "top", "pods", "-A")
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "burn-h2") {
		t.Fatalf("kubectl top pods -A through h1: %v\n%s", err, out)
	}
	t.Logf("kubectl top pods -A through h1:\n%s", out)
}
