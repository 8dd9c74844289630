package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// killEngine kill -9s host i's dockerd alone: its agent, containerd and
// containers stay, as when the engine crashes.
func (c *cluster) killEngine(i int) {
	c.t.Helper()
	file := filepath.Join("/run/shoal-cluster", fmt.Sprintf("h%d", i), "docker.pid")
	b, err := os.ReadFile(file)
	if err != nil {
		c.t.Fatalf("dockerd of h%d: %v", i, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatalf("dockerd of h%d: pid file %s: %v", i, file, err)
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
		c.t.Fatalf("dockerd of h%d: pid %d is %q (%v)", i, pid, comm, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill -9 dockerd of h%d: %v", i, err)
	}
	poll.Until(c.t, 10*time.Second, "dockerd gone", func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			return fmt.Errorf("pid %d still there", pid)
		}
		return nil
	})
}

// nodeReady is the Ready condition of a node as the host's agent serves it.
func (h *clusterHost) nodeReady(t *testing.T, name string) (*api.Condition, error) {
	obj, err := h.client.Get(ctx(t), api.KindNode, "", name)
	if err != nil {
		return nil, err
	}
	c := api.FindCondition(obj.(*api.Node).Status.Conditions, api.NodeReady)
	if c == nil {
		return &api.Condition{}, nil
	}
	return c, nil
}

// appContainers lists, on every host's engine, the running app containers
// of pods whose name starts with prefix: "host pod-uid/container" each.
func (c *cluster) appContainers(t *testing.T, prefix string) []string {
	var out []string
	for _, h := range c.hosts {
		text, err := h.dockerIn("ps", "--filter", "label=io.shoal.pod.name", "--format",
			`{{.Label "io.shoal.container.name"}} {{.Label "io.shoal.pod.name"}} {{.Label "io.shoal.pod.uid"}}`)
		if err != nil {
			t.Fatalf("docker ps on %s: %v %s", h.name, err, text)
		}
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] != "POD" && strings.HasPrefix(f[1], prefix) {
				out = append(out, h.name+" "+f[2]+"/"+f[0])
			}
		}
	}
	return out
}

// assertNoDuplicate fails if one container of one pod runs twice anywhere.
func assertNoDuplicate(t *testing.T, containers []string) {
	t.Helper()
	seen := map[string]string{}
	for _, c := range containers {
		host, key, _ := strings.Cut(c, " ")
		if other, dup := seen[key]; dup {
			t.Fatalf("container %s runs twice (on %s and %s)", key, other, host)
		}
		seen[key] = host
	}
}

// A killed dockerd on one of 3 hosts: its node is reported not ready
// (KubeletNotReady, "container runtime is down") within 10 s, no new pod is
// bound to it, its pods are evicted and replaced elsewhere as from any
// unready node, and once the engine is back the node takes pods again,
// with no container running twice.
func TestClusterKilledEngineMakesItsNodeNotReadyUntilItReturns(t *testing.T) {
	c := startCluster(t, 3)
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	if _, errOut, err := h1.shoalIn([]byte(deploymentYAML("before", 3, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	var onH2 *api.Pod
	poll.Until(t, 90*time.Second, "3 pods ready, one on each host", func() error {
		pods := h1.pods(t, "default", "app=before")
		if n := readyPods(pods); n != 3 {
			return fmt.Errorf("%d ready", n)
		}
		onH2 = nil
		for _, p := range pods {
			if p.Spec.NodeName == "h2" {
				onH2 = p
			}
		}
		if onH2 == nil {
			return fmt.Errorf("no pod on h2: %s", podFingerprint(pods))
		}
		return nil
	})

	c.killEngine(2)
	killed := time.Now()
	took := poll.Until(t, 30*time.Second, "every agent reports h2 not ready because of its engine", func() error {
		for _, h := range c.hosts {
			cond, err := h.nodeReady(t, "h2")
			if err != nil {
				return fmt.Errorf("%s: %v", h.name, err)
			}
			if cond.Status != api.ConditionFalse || cond.Reason != "KubeletNotReady" || !strings.Contains(cond.Message, "container runtime is down") {
				return fmt.Errorf("%s sees Ready %s %s %q", h.name, cond.Status, cond.Reason, cond.Message)
			}
		}
		return nil
	})
	t.Logf("h2's dead engine reported on every agent %s after the kill", took.Round(100*time.Millisecond))
	if took > 10*time.Second {
		t.Fatalf("h2's dead engine reported after %s, want within 10s", took.Round(100*time.Millisecond))
	}
	if out := h1.shoal("get", "nodes"); !strings.Contains(out, "NotReady") {
		t.Fatalf("get nodes with h2's engine down:\n%s", out)
	}

	// New pods go to h1 and h3 only; h2's pod is evicted after the timeout
	// (10 s) and replaced there too.
	if _, errOut, err := h1.shoalIn([]byte(deploymentYAML("during", 4, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply while h2's engine is down: %v %s", err, errOut)
	}
	took = poll.Until(t, 90*time.Second, "the new pods and h2's replacement running on h1 and h3", func() error {
		for _, app := range []string{"during", "before"} {
			pods := h1.pods(t, "default", "app="+app)
			for _, p := range pods {
				if p.Spec.NodeName == "h2" && p.UID != onH2.UID {
					t.Fatalf("pod %s bound to h2, whose engine is down", p.Name)
				}
			}
			want := map[string]int{"during": 4, "before": 3}[app]
			ready := 0
			for _, p := range pods {
				if p.Spec.NodeName != "h2" && api.IsPodReady(p) {
					ready++
				}
			}
			if ready != want {
				return fmt.Errorf("%s: %d ready off h2: %s", app, ready, podFingerprint(pods))
			}
		}
		if _, err := h1.client.Get(ctx(t), api.KindPod, "default", onH2.Name); !api.IsNotFound(err) {
			return fmt.Errorf("h2's pod %s not evicted yet (%v)", onH2.Name, err)
		}
		return nil
	})
	t.Logf("h2's pod evicted and every pod running elsewhere %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if out := h1.shoal("get", "events"); !strings.Contains(out, "container runtime is down") {
		t.Errorf("no eviction event says why:\n%s", out)
	}

	// The engine returns (its containers are gone with it: dockerd without
	// live-restore stops them); the node is Ready again and takes new pods.
	c.start(2)
	took = poll.Until(t, 60*time.Second, "h2 Ready again on every agent", func() error {
		for _, h := range c.hosts {
			cond, err := h.nodeReady(t, "h2")
			if err != nil || cond.Status != api.ConditionTrue {
				return fmt.Errorf("%s sees %+v (%v)", h.name, cond, err)
			}
		}
		return nil
	})
	t.Logf("h2 Ready again %s after its engine was started", took.Round(100*time.Millisecond))
	if _, errOut, err := h1.shoalIn([]byte(deploymentYAML("after", 3, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply after the engine returned: %v %s", err, errOut)
	}
	poll.Until(t, 90*time.Second, "a new pod running on h2", func() error {
		pods := h1.pods(t, "default", "app=after")
		if n := readyPods(pods); n != 3 {
			return fmt.Errorf("%d ready", n)
		}
		for _, p := range pods {
			if p.Spec.NodeName == "h2" {
				return nil
			}
		}
		return fmt.Errorf("none on h2: %s", podFingerprint(pods))
	})
	// Every pod runs once: 3 + 4 + 3 app containers, none twice, none
	// left of the evicted pod.
	poll.Until(t, 60*time.Second, "one container per pod on the engines", func() error {
		all := c.appContainers(t, "")
		if len(all) != 10 {
			return fmt.Errorf("%d app containers run, want 10: %v", len(all), all)
		}
		for _, ct := range all {
			if strings.Contains(ct, onH2.UID) {
				return fmt.Errorf("the evicted pod still runs: %s", ct)
			}
		}
		return nil
	})
	assertNoDuplicate(t, c.appContainers(t, ""))
}

// partitionRounds is how many times the leader is cut off during a rollout
// and a scale: 2 in the normal run, 5 with SHOAL_TEST_FULL=1.
func partitionRounds() int {
	if os.Getenv("SHOAL_TEST_FULL") == "1" {
		return 5
	}
	return 2
}

// testImageV2 is the same program as testImage under another name: a
// rollout between the two changes nothing but the image.
const testImageV2 = "shoal-testapp:v2"

// rolloutYAML is a Deployment with a short grace period, so that a pod
// stuck Terminating shows quickly.
func rolloutYAML(name string, replicas int, image string) string {
	return strings.Replace(deploymentYAML(name, replicas, image), "terminationGracePeriodSeconds: 5", "terminationGracePeriodSeconds: 2", 1)
}

// The leader partitioned during a rollout and a scale, then healed, several
// times: once the sides talk again, no pod stays Terminating past its grace
// period plus 10 s, every agent agrees on the pods, and the engines run
// exactly the pods of the Deployment, each once.
func TestLeaderPartitionDuringRolloutAndScaleLeavesNoPodTerminating(t *testing.T) {
	c := startCluster(t, 3)
	h1, h2 := c.agent(1), c.agent(2)
	const grace = 2 * time.Second
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	if _, errOut, err := h1.shoalIn([]byte(rolloutYAML("roll", 4, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	// settled waits until every agent holds the same Deployment and the
	// same pods, all of its template and ready, and the engines run each
	// of them once. It returns the Deployment's image and replicas: after
	// a heal they are what the merge kept, which is not this test's
	// concern.
	settled := func(round int) (string, int) {
		t.Helper()
		var image string
		var replicas int
		took := poll.Until(t, 120*time.Second, fmt.Sprintf("round %d: the pods of the Deployment running, the same on every agent", round), func() error {
			var first string
			for i, h := range c.hosts {
				obj, err := h.client.Get(ctx(t), api.KindDeployment, "default", "roll")
				if err != nil {
					return fmt.Errorf("%s: %v", h.name, err)
				}
				d := obj.(*api.Deployment)
				img, n := d.Spec.Template.Spec.Containers[0].Image, int(*d.Spec.Replicas)
				if i == 0 {
					image, replicas = img, n
				} else if img != image || n != replicas {
					return fmt.Errorf("agents disagree on the Deployment: %s×%d on h1, %s×%d on %s", image, replicas, img, n, h.name)
				}
				pods := h.pods(t, "default", "app=roll")
				for _, p := range pods {
					if p.DeletionTimestamp != nil {
						return fmt.Errorf("%s: %s still terminating", h.name, p.Name)
					}
					if p.Spec.Containers[0].Image != image || !api.IsPodReady(p) {
						return fmt.Errorf("%s: %s %s ready=%v", h.name, p.Name, p.Spec.Containers[0].Image, api.IsPodReady(p))
					}
				}
				if len(pods) != replicas {
					return fmt.Errorf("%s sees %d pods, want %d", h.name, len(pods), replicas)
				}
				fp := podFingerprint(pods)
				if first == "" {
					first = fp
				} else if fp != first {
					return fmt.Errorf("agents disagree on the pods: %s vs %s", first, fp)
				}
			}
			if cs := c.appContainers(t, "roll-"); len(cs) != replicas {
				return fmt.Errorf("%d containers run, want %d: %v", len(cs), replicas, cs)
			}
			return nil
		})
		assertNoDuplicate(t, c.appContainers(t, "roll-"))
		t.Logf("round %d: settled at %s×%d (waited %s)", round, image, replicas, took.Round(100*time.Millisecond))
		return image, replicas
	}
	image, _ := settled(0)

	for round := 1; round <= partitionRounds(); round++ {
		// v1 and v2 are the same program: a new image every round.
		if image == testImage {
			image = testImageV2
		} else {
			image = testImage
		}
		// The rollout starts on the leader, which is cut off at once; the
		// other side, with a leader of its own, scales.
		h1.shoal("set", "image", "deployment/roll", "app="+image)
		time.Sleep(time.Duration(round%3) * 500 * time.Millisecond) // cut at different points of the rollout
		c.partition(1)
		replicas := 3 + 2*(round%2) // from 4 to 5, 3, 5, 3, 5
		poll.Until(t, 30*time.Second, "h2 leads its side", func() error {
			if m := h2.members(t); m.Leader != "h2" {
				return fmt.Errorf("h2 follows %q", m.Leader)
			}
			return nil
		})
		h2.shoal("scale", "deployment/roll", fmt.Sprintf("--replicas=%d", replicas))
		time.Sleep(10 * time.Second) // both sides act on their own
		c.heal(1)
		poll.Until(t, 60*time.Second, "the members together again", func() error {
			for _, h := range c.hosts {
				m := h.members(t)
				alive := 0
				for _, it := range m.Items {
					if it.State == "alive" {
						alive++
					}
				}
				if alive != 3 || m.Leader != "h1" {
					return fmt.Errorf("%s: %d alive, leader %q", h.name, alive, m.Leader)
				}
			}
			return nil
		})
		together := time.Now()
		// From now on every pod marked for deletion must be gone within its
		// grace period plus 10 s: by its deletionTimestamp (deletion time
		// plus grace) plus 10 s, or, if deleted while its node was on the
		// other side, by the heal plus grace plus 10 s.
		watchUntil := together.Add(40 * time.Second)
		seen := map[string]time.Time{} // uid -> deadline
		var pastGrace time.Duration    // the longest a pod was seen Terminating past its grace period
		for time.Now().Before(watchUntil) {
			terminating := 0
			for _, h := range c.hosts {
				for _, p := range h.pods(t, "default", "app=roll") {
					if p.DeletionTimestamp == nil {
						continue
					}
					terminating++
					deadline, ok := seen[p.UID]
					if !ok {
						deadline = p.DeletionTimestamp.Time
						if healed := together.Add(grace); healed.After(deadline) {
							deadline = healed
						}
						deadline = deadline.Add(10 * time.Second)
						seen[p.UID] = deadline
					}
					if late := time.Since(deadline); late > 0 {
						t.Fatalf("round %d: pod %s (uid %s, on %s) still Terminating on %s %s past its grace period plus 10 s (status %s)",
							round, p.Name, p.UID, p.Spec.NodeName, h.name, late.Round(100*time.Millisecond), p.Status.Phase)
					}
					pastGrace = max(pastGrace, time.Since(deadline.Add(-10*time.Second)))
				}
			}
			if terminating == 0 && time.Since(together) > 15*time.Second {
				break // what the heal brought in has had its time
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("round %d: %d pods seen Terminating after the heal, the longest %s past its grace period (limit 10s)",
			round, len(seen), pastGrace.Round(100*time.Millisecond))
		image, _ = settled(round)
	}
}
