package integration

import (
	"fmt"
	"os"
	"path/filepath"
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

const clusterComposeVolumes = `
name: store
services:
  db:
    image: shoal-testapp:v1
    command: ["serve", "--port", "8080"]
    scale: 2
    stop_grace_period: 1s
    volumes: ["data:/data"]
  cache:
    image: shoal-testapp:v1
    command: ["serve", "--port", "9100"]
    stop_grace_period: 1s
    deploy: {mode: global}
    volumes: ["scratch:/scratch"]
volumes:
  data: {}
  scratch: {}
`

// A compose project on three hosts: the named volume of a replicated
// service is a claim of the project, bound to one host, where both
// replicas run and share it (as on one host under docker compose), and
// where replacements return; the global service's volume stays one per
// host; down -v removes the claim and the engine volume.
func TestClusterComposeNamedVolumeKeepsItsHost(t *testing.T) {
	c := startCluster(t, 3)
	h1 := c.agent(1)
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(clusterComposeVolumes), 0o644); err != nil {
		t.Fatal(err)
	}
	h1.shoal("compose", "-f", file, "up", "-d")
	dbOn := func() (string, []*api.Pod, error) {
		var running []*api.Pod
		nodes := map[string]bool{}
		for _, p := range h1.pods(t, "store", "com.docker.compose.service=db") {
			if p.DeletionTimestamp == nil {
				nodes[p.Spec.NodeName] = true
				if p.Status.Phase == api.PodRunning {
					running = append(running, p)
				}
			}
		}
		if len(running) != 2 || len(nodes) != 1 {
			return "", nil, fmt.Errorf("db: %d running, on %v", len(running), nodes)
		}
		return running[0].Spec.NodeName, running, nil
	}
	var home string
	var db []*api.Pod
	poll.Until(t, 120*time.Second, "both db pods running on one host, and a cache pod on each", func() error {
		var err error
		if home, db, err = dbOn(); err != nil {
			return err
		}
		if n := len(h1.pods(t, "store", "com.docker.compose.service=cache")); n != 3 {
			return fmt.Errorf("%d cache pods", n)
		}
		return nil
	})
	o, err := h1.client.Get(ctx(t), api.KindClaim, "store", "data")
	if err != nil {
		t.Fatal(err)
	}
	claim := o.(*api.PersistentVolumeClaim)
	if claim.SelectedNode() != home || claim.Status.Phase != api.ClaimBound || claim.Labels["com.docker.compose.project"] != "store" {
		t.Fatalf("claim data: node %q phase %q labels %v; want Bound to %s with the project label", claim.SelectedNode(), claim.Status.Phase, claim.Labels, home)
	}
	if _, err := h1.client.Get(ctx(t), api.KindClaim, "store", "scratch"); !api.IsNotFound(err) {
		t.Fatalf("the global service's volume has a claim object (%v)", err)
	}
	// The replicas share the volume, as on one host.
	h1.shoal("-n", "store", "exec", db[0].Name, "--", "/testapp", "write", "/data/shared", "from-"+db[0].Name)
	if out := strings.TrimSpace(h1.shoal("-n", "store", "exec", db[1].Name, "--", "/testapp", "cat", "/data/shared")); out != "from-"+db[0].Name {
		t.Fatalf("the other replica reads %q", out)
	}
	// Replacements return to the claim's host.
	for _, p := range db {
		h1.shoal("-n", "store", "delete", "pod", p.Name)
	}
	poll.Until(t, 90*time.Second, "two new db pods running on "+home, func() error {
		node, pods, err := dbOn()
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.UID == db[0].UID || p.UID == db[1].UID {
				return fmt.Errorf("old pod %s still counted", p.Name)
			}
		}
		if node != home {
			t.Fatalf("db replaced on %s, not on %s where its volume is", node, home)
		}
		return nil
	})

	volumeOn := func(i int) bool {
		return strings.Contains(c.docker(i, "volume", "ls", "--format", "{{.Name}}"), "shoal-pvc-store-data")
	}
	i := int(home[1] - '0')
	if !volumeOn(i) {
		t.Fatalf("no engine volume shoal-pvc-store-data on %s", home)
	}
	h1.shoal("compose", "-p", "store", "down", "-v")
	if _, err := h1.client.Get(ctx(t), api.KindClaim, "store", "data"); !api.IsNotFound(err) {
		t.Fatalf("the claim outlived down -v (%v)", err)
	}
	if volumeOn(i) {
		t.Fatalf("the engine volume outlived down -v on %s", home)
	}
}
