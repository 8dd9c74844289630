package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// webPods lists the pods of the web StatefulSet by name, as h sees them.
func webPods(t *testing.T, h *clusterHost) map[string]*api.Pod {
	out := map[string]*api.Pod{}
	for _, p := range h.pods(t, "default", "app=web") {
		out[p.Name] = p
	}
	return out
}

// A StatefulSet of 3 with volume claims on 3 hosts: the pods start in
// order; a pod resolves the others' stable names across hosts; a file on a
// pod's claim is there again after the pod is deleted, and after its host
// is killed and comes back: meanwhile the pod, made again with the same
// name, waits for that host and runs nowhere else.
func TestClusterStatefulSetKeepsNamesAndDataAcrossAHostKill(t *testing.T) {
	c := startCluster(t, 3, "--pod-eviction-timeout", "10s")
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	// h1 answers the test and leads: keep the pods off it, so that the
	// host killed below is neither.
	h1.shoal("cordon", "h1")
	if _, errOut, err := h1.shoalIn([]byte(statefulSetManifests), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	seen := map[string]bool{}
	took := poll.Until(t, 180*time.Second, "3 ready pods web-0..2", func() error {
		pods := webPods(t, h1)
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			if pods[name] == nil || seen[name] {
				continue
			}
			seen[name] = true
			for j := range i {
				if below := pods[fmt.Sprintf("web-%d", j)]; below == nil || !api.IsPodReady(below) {
					t.Fatalf("%s made before web-%d was ready: %s", name, j, podFingerprint(h1.pods(t, "default", "app=web")))
				}
			}
		}
		if n := readyPods(h1.pods(t, "default", "app=web")); n != 3 {
			return fmt.Errorf("%d ready: %s", n, podFingerprint(h1.pods(t, "default", "app=web")))
		}
		return nil
	})
	pods := webPods(t, h1)
	t.Logf("3 pods ready %s after apply: %s", took.Round(100*time.Millisecond), podFingerprint(h1.pods(t, "default", "app=web")))
	h1.shoal("uncordon", "h1")

	for _, q := range [][2]string{{"web-2", "web-0"}, {"web-0", "web-1"}, {"web-1", "web-2"}} {
		from, to := q[0], q[1]
		name := to + ".web.default.svc.cluster.local"
		poll.Until(t, 30*time.Second, from+" resolves "+name, func() error {
			out, errOut, err := h1.shoalIn(nil, "exec", from, "--", "/testapp", "lookup", name)
			if err != nil || !strings.Contains(out, pods[to].Status.PodIP) {
				return fmt.Errorf("lookup: %v %s %s (want %s)", err, out, errOut, pods[to].Status.PodIP)
			}
			return nil
		})
	}

	home := pods["web-1"].Spec.NodeName
	h1.shoal("exec", "web-1", "--", "/testapp", "write", "/data/note", "written-on-"+home)
	old := pods["web-1"]
	h1.shoal("delete", "pod", "web-1")
	poll.Until(t, 90*time.Second, "web-1 made again and ready", func() error {
		p := webPods(t, h1)["web-1"]
		if p == nil || p.UID == old.UID || !api.IsPodReady(p) {
			return fmt.Errorf("web-1: %s", podFingerprint(h1.pods(t, "default", "app=web")))
		}
		old = p
		return nil
	})
	if old.Spec.NodeName != home {
		t.Fatalf("web-1 made again on %s; its claim is on %s", old.Spec.NodeName, home)
	}
	if out := strings.TrimSpace(h1.shoal("exec", "web-1", "--", "/testapp", "cat", "/data/note")); out != "written-on-"+home {
		t.Fatalf("the file on web-1's claim reads %q after the pod was made again", out)
	}

	i := int(home[1] - '0')
	c.kill(i)
	killed := time.Now()
	took = poll.Until(t, 120*time.Second, "web-1 made again, Pending for "+home, func() error {
		p := webPods(t, h1)["web-1"]
		if p == nil || p.UID == old.UID {
			return fmt.Errorf("web-1 not evicted and made again yet: %s", podFingerprint(h1.pods(t, "default", "app=web")))
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != home {
			t.Fatalf("web-1 bound to %s while its claim's host %s is down", p.Spec.NodeName, home)
		}
		return nil
	})
	t.Logf("web-1 made again %s after the kill of %s", took.Round(100*time.Millisecond), home)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if p := webPods(t, h1)["web-1"]; p != nil && p.Spec.NodeName != "" && p.Spec.NodeName != home {
			t.Fatalf("web-1 bound to %s while its claim's host %s is down", p.Spec.NodeName, home)
		}
	}

	c.start(i)
	took = poll.Until(t, 180*time.Second, "web-1 running on "+home+" again", func() error {
		p := webPods(t, h1)["web-1"]
		if p == nil || !api.IsPodReady(p) {
			return fmt.Errorf("web-1: %s", podFingerprint(h1.pods(t, "default", "app=web")))
		}
		if p.Spec.NodeName != home {
			t.Fatalf("web-1 came back on %s, not on %s where its data is", p.Spec.NodeName, home)
		}
		return nil
	})
	t.Logf("web-1 ready on %s again %s after its host was started (%s after the kill)", home, took.Round(100*time.Millisecond), time.Since(killed).Round(time.Second))
	if out := strings.TrimSpace(h1.shoal("exec", "web-1", "--", "/testapp", "cat", "/data/note")); out != "written-on-"+home {
		t.Fatalf("the file on web-1's claim reads %q after its host came back; want written-on-%s", out, home)
	}
	poll.Until(t, 120*time.Second, "3 ready pods", func() error {
		if n := readyPods(h1.pods(t, "default", "app=web")); n != 3 {
			return fmt.Errorf("%d ready: %s", n, podFingerprint(h1.pods(t, "default", "app=web")))
		}
		return nil
	})
}
