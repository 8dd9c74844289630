package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const claimManifests = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: keeper
  labels: {app: keeper}
spec:
  replicas: 1
  selector:
    matchLabels: {app: keeper}
  template:
    metadata:
      labels: {app: keeper}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: ` + testImage + `
        args: ["serve", "--port", "8080"]
        volumeMounts:
        - {name: data, mountPath: /data}
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: data}
`

// A Deployment's pod using a PersistentVolumeClaim binds the claim to its
// host and writes there; when that host dies, the replacement pod stays
// Pending (saying which node it waits for) and no other host gets it;
// when the host returns, the pod runs there again and finds the file.
func TestClusterClaimKeepsItsPodOnTheHostOfItsData(t *testing.T) {
	c := startCluster(t, 3, "--pod-eviction-timeout", "10s")
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	// h1 answers the test and leads: keep the pod off it, so that the
	// host killed below is neither.
	h1.shoal("cordon", "h1")
	if _, errOut, err := h1.shoalIn([]byte(claimManifests), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	var first *api.Pod
	poll.Until(t, 90*time.Second, "the keeper pod ready", func() error {
		pods := h1.pods(t, "default", "app=keeper")
		if readyPods(pods) != 1 {
			return fmt.Errorf("not ready: %s", podFingerprint(pods))
		}
		first = pods[0]
		return nil
	})
	home := first.Spec.NodeName
	claim := getClaimOn(t, h1, "data")
	if claim.SelectedNode() != home || claim.Status.Phase != api.ClaimBound {
		t.Fatalf("claim data: node %q phase %q; want bound to %s, where its pod runs", claim.SelectedNode(), claim.Status.Phase, home)
	}
	if out := h1.shoal("get", "pvc"); !strings.Contains(out, "Bound") || !strings.Contains(out, home) {
		t.Fatalf("get pvc:\n%s", out)
	}
	h1.shoal("exec", first.Name, "--", "/testapp", "write", "/data/note", "written-on-"+home)
	h1.shoal("uncordon", "h1")

	i := int(home[1] - '0')
	c.kill(i)
	killed := time.Now()
	want := fmt.Sprintf("persistentvolumeclaim %q is bound to node %s, which is not ready", "data", home)
	var pending *api.Pod
	took := poll.Until(t, 90*time.Second, "the replacement pod Pending, waiting for "+home, func() error {
		for _, p := range h1.pods(t, "default", "app=keeper") {
			if p.UID == first.UID {
				return fmt.Errorf("%s's pod not evicted yet", home)
			}
			if p.Spec.NodeName != "" {
				t.Fatalf("the replacement pod %s was bound to %s while the claim's host %s is down", p.Name, p.Spec.NodeName, home)
			}
			cond := api.FindCondition(p.Status.Conditions, api.PodScheduled)
			if cond == nil || cond.Status != api.ConditionFalse || cond.Message != want {
				return fmt.Errorf("pod %s: PodScheduled %+v", p.Name, cond)
			}
			pending = p
			return nil
		}
		return fmt.Errorf("no replacement pod yet")
	})
	t.Logf("replacement pod Pending for %s %s after the kill", home, took.Round(100*time.Millisecond))
	// While the host stays down, no other host gets the pod.
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		for _, p := range h1.pods(t, "default", "app=keeper") {
			if p.Spec.NodeName != "" {
				t.Fatalf("pod %s bound to %s while the claim's host %s is down", p.Name, p.Spec.NodeName, home)
			}
		}
	}
	if out := h1.shoal("describe", "pod", pending.Name); !strings.Contains(out, want) {
		t.Errorf("describe pod does not say why it waits:\n%s", out)
	}

	c.start(i)
	took = poll.Until(t, 120*time.Second, "the pod running on "+home+" again", func() error {
		pods := h1.pods(t, "default", "app=keeper")
		if readyPods(pods) != 1 {
			return fmt.Errorf("not ready: %s", podFingerprint(pods))
		}
		if pods[0].Spec.NodeName != home {
			t.Fatalf("the pod came back on %s, not on %s where its data is", pods[0].Spec.NodeName, home)
		}
		pending = pods[0]
		return nil
	})
	t.Logf("pod running on %s again %s after its host was started (%s after the kill)", home, took.Round(100*time.Millisecond), time.Since(killed).Round(time.Second))
	if out := strings.TrimSpace(h1.shoal("exec", pending.Name, "--", "/testapp", "cat", "/data/note")); out != "written-on-"+home {
		t.Fatalf("the file on the claim's volume reads %q after the return; want written-on-%s", out, home)
	}
}

func getClaimOn(t *testing.T, h *clusterHost, name string) *api.PersistentVolumeClaim {
	t.Helper()
	o, err := h.client.Get(ctx(t), api.KindClaim, "default", name)
	if err != nil {
		t.Fatalf("get pvc %s: %v", name, err)
	}
	return o.(*api.PersistentVolumeClaim)
}
