package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// burnYAML is a Deployment whose pods hold a 4 MiB shell variable and
// burn CPU in a shell loop, at most 200m each (their limit), against a
// request of 100m.
const burnYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: ` + testImage + `
        command: ["/bin/sh", "-c", "s=x; i=0; while [ $i -lt 22 ]; do s=$s$s; i=$((i+1)); done; while :; do :; done"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
          limits: {cpu: 200m}
`

// milli reads a kubectl top cell such as "187m" or "1" as millicores.
func milli(t *testing.T, cell string) int64 {
	t.Helper()
	if v, ok := strings.CutSuffix(cell, "m"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("cpu cell %q", cell)
		}
		return n
	}
	n, err := strconv.ParseInt(cell, 10, 64)
	if err != nil {
		t.Fatalf("cpu cell %q", cell)
	}
	return n * 1000
}

// kubectl top reads metrics.k8s.io: a pod burning CPU shows its usage,
// the node its own; kubectl autoscale makes an autoscaling/v2
// HorizontalPodAutoscaler that scales the Deployment up to its maximum
// while the pods burn, and back down once they idle (the scale-down
// window shortened to 10 s through spec.behavior).
func TestKubectlTopAndHorizontalPodAutoscaler(t *testing.T) {
	a := startAgent(t)
	mustApplyYAML(t, a, burnYAML)
	pods := waitReady(t, a, "app=burn", 1, 60*time.Second)
	name := pods[0].Name

	poll.Until(t, 60*time.Second, "kubectl top pods shows the burning pod", func() error {
		out, errOut, err := a.kubectlIn(t, nil, "top", "pods")
		if err != nil {
			return fmt.Errorf("%v: %s %s", err, out, errOut)
		}
		if h := header(out); h != "NAME CPU(cores) MEMORY(bytes)" {
			return fmt.Errorf("header %q", h)
		}
		row := rowOf(out, name)
		if len(row) != 3 {
			return fmt.Errorf("no row for %s:\n%s", name, out)
		}
		if cpu := milli(t, row[1]); cpu < 50 || cpu > 260 {
			return fmt.Errorf("cpu %s, want about 200m (the limit):\n%s", row[1], out)
		}
		// The working set holds the 4 MiB variable at least.
		if mem, err := strconv.Atoi(strings.TrimSuffix(row[2], "Mi")); err != nil || mem < 4 || mem > 64 {
			return fmt.Errorf("memory %q, want 4Mi or more:\n%s", row[2], out)
		}
		t.Logf("kubectl top pods:\n%s", out)
		return nil
	})
	all := a.kubectlStdout(t, "top", "pods", "-A")
	if h := header(all); h != "NAMESPACE NAME CPU(cores) MEMORY(bytes)" || !strings.Contains(all, name) {
		t.Fatalf("kubectl top pods -A:\n%s", all)
	}
	ctrs := a.kubectlStdout(t, "top", "pods", "--containers")
	if row := rowOf(ctrs, name); header(ctrs) != "POD NAME CPU(cores) MEMORY(bytes)" || len(row) != 4 || row[1] != "app" {
		t.Fatalf("kubectl top pods --containers:\n%s", ctrs)
	}
	if sel := a.kubectlStdout(t, "top", "pods", "-l", "app=other"); strings.Contains(sel, name) {
		t.Fatalf("a label selector that matches nothing listed the pod:\n%s", sel)
	}
	poll.Until(t, 30*time.Second, "kubectl top nodes shows the node", func() error {
		out, errOut, err := a.kubectlIn(t, nil, "top", "nodes")
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		row := rowOf(out, a.name)
		if h := header(out); h != "NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)" || len(row) != 5 {
			return fmt.Errorf("table:\n%s", out)
		}
		if cpu := milli(t, row[1]); cpu < 100 || !strings.HasSuffix(row[2], "%") || !strings.HasSuffix(row[4], "%") {
			return fmt.Errorf("row %v: the node runs a burning pod", row)
		}
		t.Logf("kubectl top nodes:\n%s", out)
		return nil
	})

	a.kubectlStdout(t, "autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=3")
	a.kubectlStdout(t, "patch", "hpa", "burn", "--type=merge", "-p", `{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":10}}}}`)
	replicas := func() int32 {
		o, err := a.client.Get(ctx(t), api.KindDeployment, "default", "burn")
		if err != nil {
			t.Fatal(err)
		}
		return *o.(*api.Deployment).Spec.Replicas
	}
	start := time.Now()
	poll.Until(t, 90*time.Second, "the autoscaler scales the burning deployment to 3", func() error {
		if n := replicas(); n != 3 {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	t.Logf("scaled up to 3 after %s", time.Since(start).Round(time.Second))
	poll.Until(t, 30*time.Second, "kubectl get hpa shows the utilization", func() error {
		out := a.kubectlStdout(t, "get", "hpa", "burn")
		row := rowOf(out, "burn")
		if header(out) != "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE" || len(row) != 8 ||
			row[1] != "Deployment/burn" || row[2] != "cpu:" || !strings.HasSuffix(row[3], "%/50%") || strings.HasPrefix(row[3], "<unknown>") {
			return fmt.Errorf("table:\n%s", out)
		}
		t.Logf("kubectl get hpa:\n%s", out)
		return nil
	})
	o, err := a.client.Get(ctx(t), api.KindHPA, "default", "burn")
	if err != nil {
		t.Fatal(err)
	}
	hpa := o.(*api.HorizontalPodAutoscaler)
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.MaxReplicas != 3 || hpa.Status.LastScaleTime == nil {
		t.Fatalf("autoscaler %+v", hpa)
	}
	if c := api.FindCondition(hpa.Status.Conditions, api.ConditionScalingActive); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("ScalingActive %+v", c)
	}

	// The pods stop burning: a rollout to an idle command.
	a.kubectlStdout(t, "patch", "deployment", "burn", "--type=json", "-p",
		`[{"op":"replace","path":"/spec/template/spec/containers/0/command","value":["/bin/sh","-c","sleep 3600"]}]`)
	start = time.Now()
	poll.Until(t, 150*time.Second, "the autoscaler scales the idle deployment back to 1", func() error {
		if n := replicas(); n != 1 {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	t.Logf("scaled down to 1 after %s", time.Since(start).Round(time.Second))
	desc := a.kubectlStdout(t, "describe", "hpa", "burn")
	if !strings.Contains(desc, "SuccessfulRescale") || !strings.Contains(desc, "New size: 1") {
		t.Fatalf("kubectl describe hpa lacks the rescale events:\n%s", desc)
	}
}
