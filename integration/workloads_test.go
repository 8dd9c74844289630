package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// readyWatcher follows the pods of a selector through a watch and records
// the smallest number of ready pods it ever saw, and the largest number of
// active ones.
type readyWatcher struct {
	mu        sync.Mutex
	pods      map[string]*api.Pod
	minReady  int
	maxActive int
	cancel    context.CancelFunc
	done      chan struct{}
}

func watchPods(t *testing.T, a *agent, selector string) *readyWatcher {
	t.Helper()
	sel, _ := api.ParseSelector(selector)
	c, cancel := context.WithCancel(context.Background())
	ch, err := a.client.Watch(c, api.KindPod, "default", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	w := &readyWatcher{pods: map[string]*api.Pod{}, minReady: 1 << 30, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ev := range ch {
			p, ok := ev.Object.(*api.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			if ev.Type == api.Deleted {
				delete(w.pods, p.Name)
			} else {
				w.pods[p.Name] = p
			}
			ready, active := 0, 0
			for _, q := range w.pods {
				if q.DeletionTimestamp == nil && !api.IsPodTerminal(q) {
					active++
					if api.IsPodReady(q) {
						ready++
					}
				}
			}
			w.minReady = min(w.minReady, ready)
			w.maxActive = max(w.maxActive, active)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *readyWatcher) stop() {
	w.cancel()
	<-w.done
}

// reset starts a new measurement from the current state.
func (w *readyWatcher) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.minReady, w.maxActive = 1<<30, 0
}

func (w *readyWatcher) extremes() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.minReady, w.maxActive
}

const rollingYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 6
  progressDeadlineSeconds: %d
  strategy:
    rollingUpdate: {maxSurge: %d, maxUnavailable: 0}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: shoal-testapp:v1
        args: [%s]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
`

func imagesOf(t *testing.T, a *agent, selector string) map[string]int {
	out := map[string]int{}
	for _, p := range a.pods(t, "default", selector) {
		if p.DeletionTimestamp == nil {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

func TestRollingUpdateKeepsEveryReplicaServingAndUndoes(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(fmt.Sprintf(rollingYAML, 600, 2, `"serve"`)), "apply", "-f", "-")
	a.shoal("rollout", "status", "deploy/web", "--timeout", "90s")
	waitReady(t, a, "app=web", 6, 30*time.Second)
	w := watchPods(t, a, "app=web")
	time.Sleep(200 * time.Millisecond) // the watch has seen the initial pods
	w.reset()

	a.shoal("set", "image", "deploy/web", "app=shoal-testapp:v2")
	out := a.shoal("rollout", "status", "deploy/web", "--timeout", "120s")
	if !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %s", out)
	}
	poll.Until(t, 30*time.Second, "6 pods of v2 and nothing else", func() error {
		if imgs := imagesOf(t, a, "app=web"); imgs["shoal-testapp:v2"] != 6 || len(imgs) != 1 {
			return fmt.Errorf("images %v", imgs)
		}
		return nil
	})
	if minReady, maxActive := w.extremes(); minReady < 6 || maxActive > 8 {
		t.Fatalf("during the update ready pods fell to %d (want >= 6), active pods reached %d (want <= 8)", minReady, maxActive)
	}
	rss, _, _ := a.client.List(ctx(t), api.KindReplicaSet, "default", api.ListOptions{})
	if len(rss) != 2 {
		t.Fatalf("%d replicasets, want 2", len(rss))
	}
	for _, o := range rss {
		rs := o.(*api.ReplicaSet)
		img := rs.Spec.Template.Spec.Containers[0].Image
		if img == "shoal-testapp:v1" && *rs.Spec.Replicas != 0 {
			t.Fatalf("old replicaset still wants %d replicas", *rs.Spec.Replicas)
		}
	}
	hist := a.shoal("rollout", "history", "deploy/web")
	if !strings.Contains(hist, "\n1 ") || !strings.Contains(hist, "\n2 ") || strings.Contains(hist, "\n3 ") {
		t.Fatalf("history is not 2 revisions:\n%s", hist)
	}

	w.reset()
	a.shoal("rollout", "undo", "deploy/web")
	a.shoal("rollout", "status", "deploy/web", "--timeout", "120s")
	poll.Until(t, 30*time.Second, "back to 6 pods of v1", func() error {
		if imgs := imagesOf(t, a, "app=web"); imgs["shoal-testapp:v1"] != 6 || len(imgs) != 1 {
			return fmt.Errorf("images %v", imgs)
		}
		return nil
	})
	if minReady, _ := w.extremes(); minReady < 6 {
		t.Fatalf("during the undo ready pods fell to %d", minReady)
	}
	// The running containers really are v1 again, once the old ones stopped.
	poll.Until(t, 30*time.Second, "6 containers of v1 and nothing else", func() error {
		out, err := exec.Command("docker", "ps", "--filter", "label=io.shoal.node="+a.name,
			"--filter", "label=io.shoal.container.name=app", "--format", "{{.Image}}").Output()
		if err != nil {
			return err
		}
		imgs := strings.Fields(string(out))
		if len(imgs) != 6 || strings.Count(string(out), "shoal-testapp:v1") != 6 {
			return fmt.Errorf("running images %v", imgs)
		}
		return nil
	})
}

func TestStuckRolloutStopsAtSurgeAndReportsTheDeadline(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(fmt.Sprintf(rollingYAML, 8, 1, `"serve"`)), "apply", "-f", "-")
	a.shoal("rollout", "status", "deploy/web", "--timeout", "90s")
	w := watchPods(t, a, "app=web")
	time.Sleep(200 * time.Millisecond)
	w.reset()
	// The new template crashes at once: the rollout must stall.
	_, errOut, err := a.shoalIn([]byte(fmt.Sprintf(rollingYAML, 8, 1, `"crash"`)), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	start := time.Now()
	cmd := exec.Command(shoalBin(t), a.cliArgs("rollout", "status", "deploy/web", "--timeout", "60s")...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("rollout status succeeded on a crash-looping rollout:\n%s", out)
	}
	if !strings.Contains(string(out), "exceeded its progress deadline") {
		t.Fatalf("rollout status did not report the deadline:\n%s", out)
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Fatalf("the deadline of 8s was reported after %s", took)
	}
	if minReady, maxActive := w.extremes(); minReady < 6 || maxActive > 7 {
		t.Fatalf("old pods stopped serving (min ready %d) or the surge limit was passed (max active %d)", minReady, maxActive)
	}
	if imgs := readyPods(a.pods(t, "default", "app=web")); imgs != 6 {
		t.Fatalf("%d ready pods, want the 6 old ones", imgs)
	}
}

func TestPausedChangesRollOutAsOneRevision(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(deploymentYAML("web", 2, testImage)), "apply", "-f", "-")
	a.shoal("rollout", "status", "deploy/web", "--timeout", "60s")
	a.shoal("rollout", "pause", "deploy/web")
	a.shoal("set", "image", "deploy/web", "app=shoal-testapp:v2")
	if _, err := a.client.Patch(ctx(t), api.KindDeployment, "default", "web",
		[]byte(`{"spec":{"template":{"metadata":{"annotations":{"note":"second change"}}}}}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // nothing may happen while paused
	if imgs := imagesOf(t, a, "app=web"); imgs["shoal-testapp:v1"] != 2 {
		t.Fatalf("a paused deployment rolled out: %v", imgs)
	}
	a.shoal("rollout", "resume", "deploy/web")
	a.shoal("rollout", "status", "deploy/web", "--timeout", "60s")
	rss, _, _ := a.client.List(ctx(t), api.KindReplicaSet, "default", api.ListOptions{})
	if len(rss) != 2 {
		t.Fatalf("%d replicasets after two paused changes, want 2 (one new revision)", len(rss))
	}
	hist := a.shoal("rollout", "history", "deploy/web")
	if strings.Contains(hist, "\n3 ") {
		t.Fatalf("more than one new revision:\n%s", hist)
	}
}

const probesYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: probed, labels: {app: probed}}
spec:
  replicas: 1
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["serve"]
        livenessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
          failureThreshold: 2
        readinessProbe:
          exec: {command: ["/testapp", "get", "http://127.0.0.1:8080/readyz"]}
          periodSeconds: 1
          failureThreshold: 1
`

func TestProbesRestartAndGate(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(probesYAML), "apply", "-f", "-")
	pod := waitReady(t, a, "app=probed", 1, 60*time.Second)[0]

	t.Run("a failing readiness probe removes Ready without a restart", func(t *testing.T) {
		a.shoal("exec", pod.Name, "--", "/testapp", "get", "http://127.0.0.1:8080/ready/off")
		poll.Until(t, 10*time.Second, "pod not ready", func() error {
			p := a.pods(t, "default", "app=probed")[0]
			if api.IsPodReady(p) {
				return fmt.Errorf("still ready")
			}
			if p.Status.ContainerStatuses[0].RestartCount != 0 || p.Status.Phase != api.PodRunning {
				return fmt.Errorf("restarted or not running: %+v", p.Status.ContainerStatuses[0])
			}
			return nil
		})
		a.shoal("exec", pod.Name, "--", "/testapp", "get", "http://127.0.0.1:8080/ready/on")
		poll.Until(t, 10*time.Second, "ready again", func() error {
			if !api.IsPodReady(a.pods(t, "default", "app=probed")[0]) {
				return fmt.Errorf("not ready")
			}
			return nil
		})
	})

	t.Run("a failing liveness probe restarts the container", func(t *testing.T) {
		a.shoal("exec", pod.Name, "--", "/testapp", "get", "http://127.0.0.1:8080/fail")
		poll.Until(t, 20*time.Second, "restarted", func() error {
			p := a.pods(t, "default", "app=probed")[0]
			if cs := p.Status.ContainerStatuses[0]; cs.RestartCount < 1 || cs.State.Running == nil {
				return fmt.Errorf("%+v", cs)
			}
			return nil
		})
		poll.Until(t, 10*time.Second, "Unhealthy and Killing events", func() error {
			out := a.shoal("describe", "pod", pod.Name)
			if !strings.Contains(out, "Unhealthy") || !strings.Contains(out, "Killing") {
				return fmt.Errorf("describe:\n%s", out)
			}
			return nil
		})
	})
}

const initYAML = `apiVersion: v1
kind: Pod
metadata: {name: initdemo}
spec:
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - name: first
    image: shoal-testapp:v1
    args: ["write", "/work/greeting", "from-init-1"]
    volumeMounts: [{name: shared, mountPath: /work}]
  - name: second
    image: shoal-testapp:v1
    command: ["/bin/sh", "-c", "cat /work/greeting > /work/both; echo from-init-2 >> /work/both"]
    volumeMounts: [{name: shared, mountPath: /work}]
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    volumeMounts: [{name: shared, mountPath: /data}]
`

func TestInitContainersFeedTheAppThroughEmptyDir(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(initYAML), "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "pod running", func() error {
		p, err := a.client.Get(ctx(t), api.KindPod, "default", "initdemo")
		if err != nil {
			return err
		}
		if !api.IsPodReady(p.(*api.Pod)) {
			return fmt.Errorf("not ready: %s", p.(*api.Pod).Status.Phase)
		}
		return nil
	})
	out := a.shoal("exec", "initdemo", "--", "cat", "/data/both")
	if out != "from-init-1\nfrom-init-2\n" {
		t.Fatalf("the app saw %q", out)
	}
}

const configVolumeYAML = `apiVersion: v1
kind: ConfigMap
metadata: {name: live}
data: {message: first}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {token: abc123}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: cfg, configMap: {name: live}}
  - {name: sec, secret: {secretName: token}}
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    volumeMounts:
    - {name: cfg, mountPath: /etc/live}
    - {name: sec, mountPath: /etc/token}
`

func TestConfigMapEditReachesTheMountedFile(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(configVolumeYAML), "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "pod ready", func() error {
		p, err := a.client.Get(ctx(t), api.KindPod, "default", "reader")
		if err != nil || !api.IsPodReady(p.(*api.Pod)) {
			return fmt.Errorf("not ready (%v)", err)
		}
		return nil
	})
	if out := a.shoal("exec", "reader", "--", "cat", "/etc/live/message"); out != "first" {
		t.Fatalf("mounted file: %q", out)
	}
	if out := a.shoal("exec", "reader", "--", "cat", "/etc/token/token"); out != "abc123" {
		t.Fatalf("secret file: %q", out)
	}
	// The secret lives in memory, not on the disk.
	mounts := a.shoal("exec", "reader", "--", "cat", "/proc/mounts")
	found := false
	for _, l := range strings.Split(mounts, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[1] == "/etc/token" {
			found = f[2] == "tmpfs"
		}
	}
	if !found {
		t.Fatalf("/etc/token is not a tmpfs:\n%s", mounts)
	}
	start := time.Now()
	if _, err := a.client.Patch(ctx(t), api.KindConfigMap, "default", "live", []byte(`{"data":{"message":"second"}}`)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the edit in the file", func() error {
		if out := a.shoal("exec", "reader", "--", "cat", "/etc/live/message"); out != "second" {
			return fmt.Errorf("file says %q", out)
		}
		return nil
	})
	t.Logf("ConfigMap edit visible in the pod after %s", time.Since(start).Round(time.Millisecond))
}

func TestWorkloadBadInputIsRefused(t *testing.T) {
	a := startAgent(t)
	job := `apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  template:
    spec:
      restartPolicy: Always
      containers: [{name: c, image: shoal-testapp:v1}]
`
	pod := `apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  volumes: [{name: v, configMap: {name: c, items: [{key: k, path: ../etc/passwd}]}}]
  containers:
  - name: c
    image: shoal-testapp:v1
    livenessProbe: {periodSeconds: 5}
`
	zero := strings.Replace(strings.Replace(rollingYAML, "%d", "600", 1), "maxSurge: %d", "maxSurge: 0", 1)
	zero = strings.Replace(zero, "%s", `"serve"`, 1)
	cases := []struct{ name, input, field string }{
		{"job with restartPolicy Always", job, "spec.template.spec.restartPolicy"},
		{"configMap item escaping the mount", pod, "spec.volumes[0].configMap.items[0].path"},
		{"probe with no handler", pod, "spec.containers[0].livenessProbe"},
		{"maxSurge and maxUnavailable both 0", zero, "spec.strategy.rollingUpdate.maxUnavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, err := a.shoalIn([]byte(c.input), "apply", "-f", "-")
			if err == nil || !strings.Contains(errOut, c.field) || !strings.Contains(errOut, "Invalid") {
				t.Fatalf("apply: %v: %s (want a 422 naming %s)", err, errOut, c.field)
			}
		})
	}
	for _, k := range []*api.Kind{api.KindJob, api.KindPod, api.KindDeployment} {
		if objs, _, _ := a.client.List(ctx(t), k, "default", api.ListOptions{}); len(objs) != 0 {
			t.Fatalf("bad input stored %d %s", len(objs), k.Resource)
		}
	}
}
