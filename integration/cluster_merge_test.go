package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
)

// Concurrent edits on both sides of a partition of the leader (h1 alone,
// h2 and h3 together), healed after the edits, in one run:
//
//   - "merge": `set image` on h1, `scale` on h2: after the heal both stand
//     on every agent, and the engines run the new count of the new image;
//   - "clash": `scale` on both sides: one value everywhere (the later
//     write's) and one ConflictingEdits Event naming both agents;
//   - "lonely" (no status record before the cut) and "watched" (one
//     already): deleted on h2, a status written on h1: after the heal no
//     object and no live status record of either on any agent, read from
//     every agent's state.db once it is stopped.
func TestClusterPartitionedEditsMergeOnHeal(t *testing.T) {
	c := startCluster(t, 3)
	h1, h2 := c.agent(1), c.agent(2)
	poll.Until(t, 60*time.Second, "3 Ready nodes, h1 leading", func() error {
		for _, h := range c.hosts {
			if got := strings.Join(h.readyNodes(t), ","); got != "h1,h2,h3" {
				return fmt.Errorf("%s sees Ready nodes %q", h.name, got)
			}
			if m := h.members(t); m.Leader != "h1" {
				return fmt.Errorf("%s follows leader %q", h.name, m.Leader)
			}
		}
		return nil
	})
	for _, d := range []string{deploymentYAML("merge", 2, testImage), deploymentYAML("clash", 1, testImage),
		strayPodYAML("lonely"), strayPodYAML("watched")} {
		if _, errOut, err := h2.shoalIn([]byte(d), "apply", "-f", "-"); err != nil {
			t.Fatalf("apply on h2: %v %s", err, errOut)
		}
	}
	watched := getPod(t, h2, "watched")
	watched.Status.Phase = api.PodPending
	if _, err := h2.client.UpdateStatus(ctx(t), api.KindPod, "default", watched); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 90*time.Second, "merge and clash running, every object on every agent", func() error {
		if n := total(c.runningApps("merge-")); n != 2 {
			return fmt.Errorf("merge runs %d containers", n)
		}
		if n := total(c.runningApps("clash-")); n != 1 {
			return fmt.Errorf("clash runs %d containers", n)
		}
		for _, h := range c.hosts {
			for _, name := range []string{"lonely", "watched"} {
				p, err := h.client.Get(ctx(t), api.KindPod, "default", name)
				if err != nil {
					return fmt.Errorf("%s: pod %s: %v", h.name, name, err)
				}
				if name == "watched" && p.(*api.Pod).Status.Phase != api.PodPending {
					return fmt.Errorf("%s: watched has no status yet", h.name)
				}
			}
		}
		return nil
	})

	c.partition(1)
	cut := time.Now()
	h1.shoal("set", "image", "deployment/merge", "app=shoal-testapp:v2")
	h1.shoal("scale", "deployment/clash", "--replicas", "2")
	for _, name := range []string{"lonely", "watched"} {
		p := getPod(t, h1, name)
		p.Status.Phase = api.PodRunning
		p.Status.Message = "written on h1 during the partition"
		if _, err := h1.client.UpdateStatus(ctx(t), api.KindPod, "default", p); err != nil {
			t.Fatalf("status of %s on h1: %v", name, err)
		}
	}
	time.Sleep(100 * time.Millisecond) // h2's scale of clash is the later write
	h2.shoal("scale", "deployment/merge", "--replicas", "3")
	h2.shoal("scale", "deployment/clash", "--replicas", "3")
	for _, name := range []string{"lonely", "watched"} {
		if _, err := h2.client.Delete(ctx(t), api.KindPod, "default", name, api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
			t.Fatalf("delete %s on h2: %v", name, err)
		}
	}
	time.Sleep(time.Until(cut.Add(15 * time.Second))) // both sides act on their edits apart
	c.heal(1)
	healed := time.Now()

	poll.Until(t, 30*time.Second, "one state of every edited object on every agent", func() error {
		var ref string
		for _, h := range c.hosts {
			d := getDeploymentOn(t, h, "merge")
			img := d.Spec.Template.Spec.Containers[0].Image
			if img != "shoal-testapp:v2" || *d.Spec.Replicas != 3 {
				return fmt.Errorf("%s: merge has image %s and %d replicas; want both edits", h.name, img, *d.Spec.Replicas)
			}
			cl := getDeploymentOn(t, h, "clash")
			if *cl.Spec.Replicas != 3 {
				return fmt.Errorf("%s: clash has %d replicas; want the later write's 3", h.name, *cl.Spec.Replicas)
			}
			for _, name := range []string{"lonely", "watched"} {
				if _, err := h.client.Get(ctx(t), api.KindPod, "default", name); !api.IsNotFound(err) {
					return fmt.Errorf("%s: pod %s deleted on h2: %v", h.name, name, err)
				}
			}
			// The merged specs are the same everywhere, generation included.
			ds, _ := json.Marshal(d.Spec)
			cs, _ := json.Marshal(cl.Spec)
			state := fmt.Sprintf("%d %s %d %s", d.Generation, ds, cl.Generation, cs)
			if ref == "" {
				ref = state
			} else if state != ref {
				return fmt.Errorf("%s holds %s, h1 %s", h.name, state, ref)
			}
		}
		return nil
	})
	t.Logf("every agent agreed %s after the heal", time.Since(healed).Round(time.Millisecond))

	poll.Until(t, 30*time.Second, "one conflict event on clash, on every agent, naming both agents", func() error {
		for _, h := range c.hosts {
			objs, _, err := h.client.List(ctx(t), api.KindEvent, "default", api.ListOptions{})
			if err != nil {
				return err
			}
			var found []*api.Event
			for _, o := range objs {
				ev := o.(*api.Event)
				if ev.Reason == "ConflictingEdits" && ev.InvolvedObject.Kind == "Deployment" && ev.InvolvedObject.Name == "merge" &&
					strings.Contains(ev.Message, "spec.template") {
					t.Fatalf("%s: a conflict reported on merge, whose edits touched different fields: %s", h.name, ev.Message)
				}
				if ev.Reason == "ConflictingEdits" && ev.InvolvedObject.Kind == "Deployment" && ev.InvolvedObject.Name == "clash" && strings.Contains(ev.Message, "spec.replicas") {
					found = append(found, ev)
				}
			}
			if len(found) != 1 {
				return fmt.Errorf("%s holds %d conflict events on clash", h.name, len(found))
			}
			msg := found[0].Message
			if !strings.Contains(msg, "kept 3") || !strings.Contains(msg, "overwritten 2") ||
				!strings.Contains(msg, "by admin on agent h2") || !strings.Contains(msg, "by admin on agent h1") || found[0].Type != api.EventWarning {
				t.Fatalf("%s: conflict event %q (%s): want the kept and overwritten values and both agents", h.name, msg, found[0].Type)
			}
		}
		return nil
	})
	ev := h3Event(t, c)
	t.Logf("conflict event: %s", ev)

	poll.Until(t, 120*time.Second, "merge runs 3 containers, all of image v2", func() error {
		imgs := c.runningImages("merge-")
		if len(imgs) != 3 || slices.ContainsFunc(imgs, func(s string) bool { return s != "shoal-testapp:v2" }) {
			return fmt.Errorf("merge's containers run %v", imgs)
		}
		if n := total(c.runningApps("clash-")); n != 3 {
			return fmt.Errorf("clash runs %d containers", n)
		}
		return nil
	})
	t.Logf("the engines matched the merged specs %s after the heal", time.Since(healed).Round(time.Millisecond))
	assertNothingRefused(t, c)

	// The orphaned status records are collected (every 15 s): then the
	// agents stop, and their stores hold no live record of either pod.
	// lonely's status (no status tombstone covered it) is collected by
	// the first agent whose sweep finds it; its tombstone then wins
	// everywhere.
	poll.Until(t, 60*time.Second, "an agent logs the collection of lonely's status", func() error {
		for _, h := range c.hosts {
			if strings.Contains(tailFile(filepath.Join(clusterStateDir, h.name, "agent.log"), 100000), "orphaned status records collected") {
				return nil
			}
		}
		return fmt.Errorf("no agent has collected an orphaned status yet")
	})
	time.Sleep(3 * time.Second) // the collections' tombstones spread
	for i := range c.hosts {
		c.kill(i + 1)
	}
	for _, h := range c.hosts {
		for _, key := range liveRecords(t, filepath.Join(clusterStateDir, h.name, "agent", "state.db"), "o/pods/default/", "s/pods/default/") {
			if strings.HasSuffix(key, "/lonely") || strings.HasSuffix(key, "/watched") {
				t.Errorf("%s still holds %s", h.name, key)
			}
		}
	}
}

// h3Event is the conflict event on Deployment clash as h3 serves it, for
// the log.
func h3Event(t *testing.T, c *cluster) string {
	objs, _, err := c.agent(3).client.List(ctx(t), api.KindEvent, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if ev := o.(*api.Event); ev.Reason == "ConflictingEdits" && ev.InvolvedObject.Kind == "Deployment" && ev.InvolvedObject.Name == "clash" {
			return ev.Name + ": " + ev.Message
		}
	}
	return ""
}

// strayPodYAML is a pod bound to a node that does not exist: no agent
// runs it and nothing writes its status but the test.
func strayPodYAML(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  nodeName: ghost
  containers:
  - name: app
    image: %s
`, name, testImage)
}

func getPod(t *testing.T, h *clusterHost, name string) *api.Pod {
	t.Helper()
	o, err := h.client.Get(ctx(t), api.KindPod, "default", name)
	if err != nil {
		t.Fatalf("pod %s on %s: %v", name, h.name, err)
	}
	return o.(*api.Pod)
}

func getDeploymentOn(t *testing.T, h *clusterHost, name string) *api.Deployment {
	t.Helper()
	o, err := h.client.Get(ctx(t), api.KindDeployment, "default", name)
	if err != nil {
		t.Fatalf("deployment %s on %s: %v", name, h.name, err)
	}
	return o.(*api.Deployment)
}

// runningImages lists, across every host's engine, the images of the
// running app containers of pods whose name starts with prefix.
func (c *cluster) runningImages(prefix string) []string {
	var out []string
	for _, h := range c.hosts {
		text, err := h.dockerIn("ps", "--filter", "label=io.shoal.pod.name",
			"--format", `{{.Label "io.shoal.container.name"}} {{.Label "io.shoal.pod.name"}} {{.Image}}`)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] != "POD" && strings.HasPrefix(f[1], prefix) {
				out = append(out, f[2])
			}
		}
	}
	slices.Sort(out)
	return out
}

// liveRecords lists the keys of the live (not deleted) records under the
// prefixes in a stopped agent's state.db.
func liveRecords(t *testing.T, path string, prefixes ...string) []string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	var keys []string
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		if b == nil {
			return fmt.Errorf("no records bucket")
		}
		return b.ForEach(func(k, v []byte) error {
			key := string(k)
			if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
				return nil
			}
			var r gossip.Record
			if err := r.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("record %s: %w", key, err)
			}
			if !r.Deleted {
				keys = append(keys, key)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return keys
}
