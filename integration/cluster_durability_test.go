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

// h3's state.db is truncated while its agent is stopped: the agent starts
// anyway, says in its log that it moved the file aside and rebuilt from a
// peer, holds the cluster's objects again, keeps its pods' containers (no
// duplicate, none restarted), and its writes replicate as before.
func TestTruncatedStoreRebuildsFromAPeer(t *testing.T) {
	c := startCluster(t, 3, "--pod-eviction-timeout", "60s")
	h1, h3 := c.agent(1), c.agent(3)
	poll.Until(t, 30*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	var cms strings.Builder
	for i := range 20 {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d}\ndata: {k: v%d}\n", i, i)
	}
	mustApply(t, h1, cms.String())
	mustApply(t, h1, deploymentYAML("kept", 3, testImage))
	poll.Until(t, 90*time.Second, "3 containers", func() error {
		if n := total(c.runningApps("kept-")); n != 3 {
			return fmt.Errorf("%d containers", n)
		}
		return nil
	})
	if _, err := h1.client.Delete(ctx(t), api.KindConfigMap, "default", "cm-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "h3 has every object", func() error {
		for i := 1; i < 20; i++ {
			if _, err := h3.client.Get(ctx(t), api.KindConfigMap, "default", fmt.Sprintf("cm-%d", i)); err != nil {
				return err
			}
		}
		if _, err := h3.client.Get(ctx(t), api.KindConfigMap, "default", "cm-0"); !api.IsNotFound(err) {
			return fmt.Errorf("cm-0: %v", err)
		}
		return nil
	})
	before := podFingerprint(h1.pods(t, "default", "app=kept"))
	containersBefore := c.docker(3, "ps", "-q", "--no-trunc")

	stopAgent(t, 3)
	dataDir := filepath.Join(clusterStateDir, "h3", "agent")
	db := filepath.Join(dataDir, "state.db")
	info, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, info.Size()/3); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(clusterStateDir, "h3", "agent.log")
	logBefore, _ := os.ReadFile(logFile)
	c.start(3)

	poll.Until(t, 60*time.Second, "h3 holds the cluster's objects again", func() error {
		for i := 1; i < 20; i++ {
			cm, err := h3.client.Get(ctx(t), api.KindConfigMap, "default", fmt.Sprintf("cm-%d", i))
			if err != nil {
				return err
			}
			if got := cm.(*api.ConfigMap).Data["k"]; got != fmt.Sprintf("v%d", i) {
				return fmt.Errorf("cm-%d: data %q", i, got)
			}
		}
		if _, err := h3.client.Get(ctx(t), api.KindConfigMap, "default", "cm-0"); !api.IsNotFound(err) {
			return fmt.Errorf("cm-0, deleted before: %v", err)
		}
		if got := podFingerprint(h3.pods(t, "default", "app=kept")); got != before {
			return fmt.Errorf("pods %s, before %s", got, before)
		}
		return nil
	})
	logText, _ := os.ReadFile(logFile)
	newLog := string(logText[len(logBefore):])
	for _, line := range strings.Split(newLog, "\n") {
		if strings.Contains(line, "damaged") || strings.Contains(line, "rebuil") {
			t.Logf("h3: %s", line)
		}
	}
	for _, want := range []string{"the store is damaged: moved it aside", "truncated", "rebuilt this agent's store from a peer"} {
		if !strings.Contains(newLog, want) {
			t.Errorf("h3's log does not say %q", want)
		}
	}
	moved, _ := filepath.Glob(db + ".damaged-*")
	if len(moved) != 1 {
		t.Fatalf("want the damaged file kept as state.db.damaged-<time>, found %v", moved)
	}
	time.Sleep(3 * time.Second) // a few resyncs to do anything wrong
	if got := c.docker(3, "ps", "-q", "--no-trunc"); got != containersBefore {
		t.Fatalf("h3's containers changed across the rebuild:\n%s\nbefore:\n%s", got, containersBefore)
	}
	if n := total(c.runningApps("kept-")); n != 3 {
		t.Fatalf("%d containers after the rebuild, want 3", n)
	}
	mustApply(t, h3, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-h3}\ndata: {k: v}\n")
	poll.Until(t, 30*time.Second, "a write on the rebuilt agent reaches h1", func() error {
		_, err := h1.client.Get(ctx(t), api.KindConfigMap, "default", "from-h3")
		return err
	})
	assertNothingRefused(t, c)
}

// mustApply applies manifests through host h's agent.
func mustApply(t *testing.T, h *clusterHost, manifests string) {
	t.Helper()
	if out, errOut, err := h.shoalIn([]byte(manifests), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply on %s: %v\n%s%s", h.name, err, out, errOut)
	}
}
