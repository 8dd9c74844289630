package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestContainerAgentJoinsABinaryAgent: in a cluster of two hosts, h2's
// agent is replaced by the image's, started by the documented docker run
// command on h2's engine with h2's data: it rejoins the cluster of h1's
// agent (run from the binary), both nodes are Ready, a DaemonSet's pods run
// on both, and a pod on h1 reaches the pod on h2 over the pod network that
// the container agent set up with the host's tools.
func TestContainerAgentJoinsABinaryAgent(t *testing.T) {
	image := buildShoalImage(t, randomSuffix())
	c := startCluster(t, 2)
	h1, h2 := c.agent(1), c.agent(2)

	// Stop h2's binary agent; its containers and data stay.
	pidFile := "/run/shoal-cluster/h2/agent.pid"
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "h2's binary agent gone", func() error {
		if err := syscall.Kill(pid, 0); err == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z ") {
				return fmt.Errorf("pid %d still runs", pid)
			}
		}
		return nil
	})

	// The image into h2's engine, as any image gets to a host without a
	// registry.
	save := exec.Command("docker", "save", image)
	load := exec.Command("docker", "-H", h2.dockerHost, "load")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("docker load into h2: %v: %s", err, out)
	}
	if err := save.Wait(); err != nil {
		t.Fatal(err)
	}

	dataDir := filepath.Join(clusterStateDir, "h2", "agent")
	sharedMount(t, dataDir)
	container := "shoal-h2"
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := h2.dockerIn("logs", "--tail", "60", container)
			t.Logf("h2's container agent log (last lines):\n%s", out)
		}
		_, _ = h2.dockerIn("rm", "-f", container)
		unmountShared(dataDir) // before scripts/cluster down removes the dir
	})
	confDir := t.TempDir()
	config := `name: h2
data-dir: ` + dataDir + `
api-addr: 10.213.0.12:7480
bind: 10.213.0.12:7481
advertise: 10.213.0.12:7481
join: [10.213.0.11:7481]
`
	if err := os.WriteFile(filepath.Join(confDir, "agent.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := strings.TrimPrefix(h2.dockerHost, "unix://")
	args := dockerRunAs(t, image, container, dataDir, confDir, sock)
	t.Logf("docker -H %s %s", h2.dockerHost, strings.Join(args, " "))
	if out, err := h2.dockerIn(args...); err != nil {
		t.Fatalf("docker run on h2: %v: %s", err, out)
	}
	poll.Until(t, 60*time.Second, "h2's container agent ready", h2.ready)

	poll.Until(t, 60*time.Second, "both nodes Ready, seen from h1", func() error {
		out, _, err := h1.shoalIn(nil, "get", "nodes")
		if err != nil {
			return err
		}
		ready := 0
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && (f[0] == "h1" || f[0] == "h2") && f[1] == "Ready" {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d of 2 Ready:\n%s", ready, out)
		}
		return nil
	})

	ds := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: every}
spec:
  selector: {matchLabels: {app: every}}
  template:
    metadata: {labels: {app: every}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: app, image: shoal-testapp:v1, args: ["serve", "--port", "8080"]}
`
	if _, errOut, err := h1.shoalIn([]byte(ds), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	byNode := map[string]*api.Pod{}
	poll.Until(t, 90*time.Second, "the DaemonSet's pods Ready on h1 and h2", func() error {
		for _, p := range h1.pods(t, "default", "app=every") {
			if p.Status.Phase == api.PodRunning && api.IsPodReady(p) {
				byNode[p.Spec.NodeName] = p
			}
		}
		if byNode["h1"] == nil || byNode["h2"] == nil {
			return fmt.Errorf("ready on %d of 2 nodes", len(byNode))
		}
		return nil
	})

	// Pod to pod across hosts: h2's routes and rules were written by the
	// container agent.
	target := fmt.Sprintf("http://%s:8080/hostname", byNode["h2"].Status.PodIP)
	poll.Until(t, 30*time.Second, "h1's pod reaches h2's pod", func() error {
		out, err := execIn(t, h1, byNode["h1"].Name, "get", target)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(out, byNode["h2"].Name) {
			return fmt.Errorf("answer %q, want %s", out, byNode["h2"].Name)
		}
		return nil
	})

	start := time.Now()
	if out, err := h2.dockerIn("stop", "-t", "30", container); err != nil {
		t.Fatalf("docker stop: %v: %s", err, out)
	}
	if code, _ := h2.dockerIn("inspect", "-f", "{{.State.ExitCode}}", container); code != "0" {
		t.Fatalf("h2's agent container exited with %s, want 0", code)
	}
	t.Logf("docker stop took %s", time.Since(start).Round(time.Millisecond))
}
