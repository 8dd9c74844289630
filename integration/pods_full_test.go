package integration

import (
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

func podNamed(t *testing.T, a *agent, name string) *api.Pod {
	o, err := a.client.Get(ctx(t), api.KindPod, "default", name)
	if err != nil {
		return nil
	}
	return o.(*api.Pod)
}

func waitPod(t *testing.T, a *agent, name, what string, within time.Duration, ok func(*api.Pod) error) {
	t.Helper()
	poll.Until(t, within, what, func() error {
		p := podNamed(t, a, name)
		if p == nil {
			return fmt.Errorf("pod %s not found", name)
		}
		return ok(p)
	})
}

func TestPodResourcesSecurityAndPullErrors(t *testing.T) {
	a := startAgent(t)
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: hungry}
spec:
  restartPolicy: Never
  containers:
  - name: eat
    image: shoal-testapp:v1
    command: ["/bin/sh", "-c", "x=$(head -c 80000000 /dev/zero | tr '\\0' a); echo survived"]
    resources:
      limits: {memory: 16Mi, cpu: 500m}
---
apiVersion: v1
kind: Pod
metadata: {name: locked}
spec:
  securityContext: {runAsUser: 65534}
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    securityContext: {readOnlyRootFilesystem: true}
---
apiVersion: v1
kind: Pod
metadata: {name: missing}
spec:
  containers:
  - name: app
    image: registry.invalid/nothing:1
`
	if _, errOut, err := a.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}

	t.Run("a memory limit is enforced and OOMKilled reported", func(t *testing.T) {
		waitPod(t, a, "hungry", "OOMKilled", 60*time.Second, func(p *api.Pod) error {
			cs := p.Status.ContainerStatuses
			if len(cs) == 0 || cs[0].State.Terminated == nil || cs[0].State.Terminated.Reason != "OOMKilled" || p.Status.Phase != api.PodFailed {
				return fmt.Errorf("%s %+v", p.Status.Phase, cs)
			}
			return nil
		})
		if out := a.shoal("get", "pod", "hungry"); !strings.Contains(out, "OOMKilled") {
			t.Fatalf("get pod:\n%s", out)
		}
		id := strings.TrimPrefix(podNamed(t, a, "hungry").Status.ContainerStatuses[0].ContainerID, "docker://")
		if q := docker(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", id); q != "16777216 500000000" {
			t.Fatalf("container limits %q, want 16 MiB and half a CPU", q)
		}
	})

	t.Run("runAsUser and a read-only root file system", func(t *testing.T) {
		waitPod(t, a, "locked", "running", 60*time.Second, func(p *api.Pod) error {
			if !api.IsPodReady(p) {
				return fmt.Errorf("not ready")
			}
			return nil
		})
		if uid := strings.TrimSpace(a.shoal("exec", "locked", "--", "id", "-u")); uid != "65534" {
			t.Fatalf("runs as %q", uid)
		}
		if _, errOut, err := a.shoalIn(nil, "exec", "locked", "--", "touch", "/newfile"); err == nil {
			t.Fatal("wrote to a read-only root file system")
		} else if !strings.Contains(errOut, "Read-only") && !strings.Contains(errOut, "read-only") {
			t.Logf("touch failed as wanted: %s", errOut)
		}
		if priv := docker(t, "inspect", "-f", "{{.HostConfig.Privileged}}", appContainerOf(t, a, "locked")); priv != "false" {
			t.Fatalf("privileged %s", priv)
		}
	})

	t.Run("an image that cannot be pulled", func(t *testing.T) {
		waitPod(t, a, "missing", "ErrImagePull then ImagePullBackOff", 60*time.Second, func(p *api.Pod) error {
			cs := p.Status.ContainerStatuses
			if len(cs) == 0 || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "ImagePullBackOff" {
				return fmt.Errorf("%+v", cs)
			}
			return nil
		})
		if out := a.shoal("describe", "pod", "missing"); !strings.Contains(out, "Failed to pull image") {
			t.Fatalf("describe lacks the pull failure:\n%s", out)
		}
	})
}

func appContainerOf(t *testing.T, a *agent, pod string) string {
	for _, c := range runningApps(t, a.name) {
		if c.Labels["io.shoal.pod.name"] == pod {
			return c.ID
		}
	}
	t.Fatalf("no running container of pod %s", pod)
	return ""
}

func TestGracePeriodEndsWithSIGKILL(t *testing.T) {
	a := startAgent(t)
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity", "--ignore-sigterm"]}
---
apiVersion: v1
kind: Pod
metadata: {name: polite}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"]}
`
	a.shoalIn([]byte(manifest), "apply", "-f", "-")
	for _, n := range []string{"stubborn", "polite"} {
		waitPod(t, a, n, "ready", 60*time.Second, func(p *api.Pod) error {
			if !api.IsPodReady(p) {
				return fmt.Errorf("not ready")
			}
			return nil
		})
	}
	for _, c := range []struct {
		pod      string
		min, max time.Duration
	}{{"stubborn", 1800 * time.Millisecond, 10 * time.Second}, {"polite", 0, 5 * time.Second}} {
		start := time.Now()
		a.shoal("delete", "pod", c.pod)
		took := time.Since(start)
		if took < c.min || took > c.max {
			t.Fatalf("deleting %s took %s, want between %s and %s", c.pod, took, c.min, c.max)
		}
	}
}

func TestPersistentClaimOutlivesItsPodAndHostPathIsShared(t *testing.T) {
	a := startAgent(t)
	labelNamespace(t, a, "default", "enforce", "privileged") // hostPath needs it
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "from-host"), []byte("host-data"), 0o644)
	claim := "data-" + a.name
	writer := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  restartPolicy: Never
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: %s}}
  - {name: host, hostPath: {path: %s}}
  containers:
  - name: w
    image: shoal-testapp:v1
    command: ["/bin/sh", "-c", "echo kept > /data/note && cat /host/from-host > /data/copied"]
    volumeMounts: [{name: data, mountPath: /data}, {name: host, mountPath: /host}]
`, claim, hostDir)
	t.Cleanup(func() {
		removeContainers(a.name) // the volume is in use until they go
		exec.Command("docker", "volume", "rm", "-f", "shoal-pvc-default-"+claim).Run()
	})
	a.shoalIn([]byte(writer), "apply", "-f", "-")
	waitPod(t, a, "writer", "succeeded", 60*time.Second, func(p *api.Pod) error {
		if p.Status.Phase != api.PodSucceeded {
			return fmt.Errorf("%s", p.Status.Phase)
		}
		return nil
	})
	a.shoal("delete", "pod", "writer")
	reader := strings.NewReplacer("name: writer", "name: reader", `"echo kept > /data/note && cat /host/from-host > /data/copied"`,
		`"cat /data/note /data/copied"`).Replace(writer)
	a.shoalIn([]byte(reader), "apply", "-f", "-")
	waitPod(t, a, "reader", "succeeded", 60*time.Second, func(p *api.Pod) error {
		if p.Status.Phase != api.PodSucceeded {
			return fmt.Errorf("%s", p.Status.Phase)
		}
		return nil
	})
	if out := a.shoal("logs", "reader"); out != "kept\nhost-data" {
		t.Fatalf("the second pod read %q", out)
	}
}
