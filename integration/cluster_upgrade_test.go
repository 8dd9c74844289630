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

// previousReleaseCommit is the commit built as "the previous release" by
// the upgrade tests (main when upgrades were first tested); set
// SHOAL_PREVIOUS_RELEASE to test an upgrade from another commit.
const previousReleaseCommit = "b4f1583"

// previousRelease builds the agent of the previous release from git (git
// archive of the commit into a temporary directory, then go build as
// scripts/lib.sh builds), once: the binary is cached under
// ~/.cache/shoal, keyed by commit. It returns the binary and the version
// it reports.
func previousRelease(t *testing.T) (bin, version string) {
	t.Helper()
	commit := previousReleaseCommit
	if c := os.Getenv("SHOAL_PREVIOUS_RELEASE"); c != "" {
		commit = c
	}
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--verify", commit+"^{commit}").CombinedOutput()
	if err != nil {
		t.Fatalf("the previous release %s is not a commit of this repository: %v: %s", commit, err, out)
	}
	full := strings.TrimSpace(string(out))
	version = "v0.1.0-" + full[:7]
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(cache, "shoal", "agent-"+full)
	if _, err := os.Stat(bin); err == nil {
		return bin, version
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	start := time.Now()
	archive := exec.Command("sh", "-c", `git -C .. archive --format=tar "$1" | tar -x -C "$2"`, "sh", full, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v: %s", full, err, out)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/shoal-dev/shoal/cli.Version="+version, "-o", tmp, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("building the previous release %s: %v: %s", full[:7], err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the previous release %s in %s, cached as %s", full[:7], time.Since(start).Round(time.Second), bin)
	return bin, version
}

// upgrade restarts host i's agent from bin/shoal, the build under test.
func (c *cluster) upgrade(i int) {
	c.t.Helper()
	c.script(3*time.Minute, nil, "upgrade", fmt.Sprint(i))
}

// containerStarts maps every container of every host to when it started
// and how often its engine restarted it.
func containerStarts(c *cluster) map[string]string {
	c.t.Helper()
	out := map[string]string{}
	for i := range c.hosts {
		ids := strings.Fields(c.docker(i+1, "ps", "-aq", "--no-trunc"))
		if len(ids) == 0 {
			continue
		}
		lines := c.docker(i+1, append([]string{"inspect", "-f", "{{.Id}} {{.State.Status}} {{.State.StartedAt}} restarts={{.RestartCount}}"}, ids...)...)
		for _, l := range strings.Split(lines, "\n") {
			id, rest, _ := strings.Cut(l, " ")
			out[fmt.Sprintf("h%d/%s", i+1, id[:12])] = rest
		}
	}
	return out
}

const upgradeYAML = `apiVersion: v1
kind: Service
metadata: {name: up}
spec:
  selector: {app: up}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: up, labels: {app: up}}
spec:
  replicas: 3
  selector: {matchLabels: {app: up}}
  template:
    metadata: {labels: {app: up}}
    spec:
      terminationGracePeriodSeconds: 2
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: up}}}
      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["serve", "--port", "8080"]
`

// An agent of this build joins a cluster of agents of the previous release
// (built from git), and a rolling upgrade of every host, one at a time,
// restarts no container and loses no object: at each step an object written
// on an upgraded agent is seen by the agents not yet upgraded, and the
// other way round.
func TestMixedVersionsAndRollingUpgrade(t *testing.T) {
	oldBin, oldVersion := previousRelease(t)
	c := startClusterEnv(t, 4, []string{"SHOAL_CLUSTER_AGENT_BIN=" + oldBin})
	for i := 1; i <= 4; i++ {
		v, err := c.agent(i).client.Version(ctx(t))
		if err != nil || v.GitVersion != oldVersion {
			t.Fatalf("h%d runs %v (%v), want the previous release %s", i, v, err, oldVersion)
		}
	}
	// h4 is where a new agent joins: no pods there.
	c.agent(1).shoal("cordon", "h4")
	if _, errOut, err := c.agent(1).shoalIn([]byte(upgradeYAML), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	waitClusterReady := func(what string) {
		poll.Until(t, 90*time.Second, what, func() error {
			if n := readyPods(c.agent(1).pods(t, "default", "app=up")); n != 3 {
				return fmt.Errorf("%d of 3 pods ready", n)
			}
			return nil
		})
	}
	waitClusterReady("3 ready pods on the previous release")
	before := containerStarts(c)
	if len(before) < 6 { // 3 pods: a sandbox and an app container each (none on h4)
		t.Fatalf("%d containers before the upgrade, want at least 6: %v", len(before), before)
	}

	var written []string
	put := func(host int, name string) {
		t.Helper()
		cm := &api.ConfigMap{TypeMeta: api.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string]string{"written-on": fmt.Sprintf("h%d", host)}}
		if _, err := c.agent(host).client.Create(ctx(t), api.KindConfigMap, "default", cm); err != nil {
			t.Fatalf("write %s on h%d: %v", name, host, err)
		}
		written = append(written, name)
	}
	seenEverywhere := func(step string) {
		t.Helper()
		poll.Until(t, 30*time.Second, step+": every object on every host", func() error {
			for i := 1; i <= 4; i++ {
				for _, name := range written {
					if _, err := c.agent(i).client.Get(ctx(t), api.KindConfigMap, "default", name); err != nil {
						return fmt.Errorf("h%d: %s: %v", i, name, err)
					}
				}
			}
			return nil
		})
	}
	put(1, "before-upgrade")
	seenEverywhere("before the upgrade")

	// A new agent of this build joins the cluster of the previous release:
	// h4 loses its agent's data and comes back as a new agent, joining with
	// the join token.
	c.kill(4)
	h4 := filepath.Join(clusterStateDir, "h4")
	if err := os.RemoveAll(filepath.Join(h4, "agent")); err != nil {
		t.Fatal(err)
	}
	newBin, err := os.ReadFile(shoalBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h4, "shoal"), newBin, 0o755); err != nil {
		t.Fatal(err)
	}
	c.start(4)
	if v, err := c.agent(4).client.Version(ctx(t)); err != nil || v.GitVersion == oldVersion {
		t.Fatalf("the new agent h4 runs %v (%v), want this build", v, err)
	}
	put(4, "on-new-h4-joined")
	put(1, "on-old-h1-after-h4-joined")
	seenEverywhere("a new agent joined")
	t.Logf("a new agent of this build joined the previous release's cluster; %d objects on every host", len(written))

	newVersion := ""
	for _, i := range []int{3, 2, 1} {
		start := time.Now()
		c.upgrade(i)
		v, err := c.agent(i).client.Version(ctx(t))
		if err != nil || v.GitVersion == oldVersion {
			t.Fatalf("h%d after its upgrade runs %v (%v), want this build", i, v, err)
		}
		newVersion = v.GitVersion
		// Written on the upgraded agent and on another, upgraded or not.
		other := i%3 + 1
		put(i, fmt.Sprintf("on-new-h%d", i))
		put(other, fmt.Sprintf("on-h%d-after-h%d-upgraded", other, i))
		step := fmt.Sprintf("h%d upgraded", i)
		seenEverywhere(step)
		waitClusterReady(step + ": 3 ready pods")
		after := containerStarts(c)
		for id, was := range before {
			if now, ok := after[id]; !ok {
				t.Errorf("%s: container %s (%s) is gone", step, id, was)
			} else if now != was {
				t.Errorf("%s: container %s was %s, now %s", step, id, was, now)
			}
		}
		for id, now := range after {
			if _, ok := before[id]; !ok {
				t.Errorf("%s: a new container %s (%s)", step, id, now)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("%s to %s in %s; %d containers unchanged, %d objects on every host", step, newVersion,
			time.Since(start).Round(100*time.Millisecond), len(before), len(written))
	}
}
