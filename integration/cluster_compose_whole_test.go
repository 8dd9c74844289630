package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// wholeCompose is one project using what a compose user brings: a built
// service with replicas and a published port, a database-like service with
// a healthcheck and a named volume, a one-shot migration, depends_on with
// service_healthy and service_completed_successfully, a secret, a config,
// an env_file and a profile left off.
const wholeCompose = `name: whole
services:
  db:
    image: shoal-testapp:v1
    command: ["serve", "--port", "5432"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "/testapp", "get", "http://127.0.0.1:5432/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
    volumes:
      - dbdata:/data
  migrate:
    image: shoal-testapp:v1
    command: ["sleep", "2s"]
    restart: "no"
    depends_on:
      db:
        condition: service_healthy
  web:
    build: ./web
    command: ["serve", "--port", "8080"]
    stop_grace_period: 1s
    deploy:
      replicas: 3
    ports:
      - "30081:8080"
    env_file: web.env
    environment:
      EDITION: one
    secrets:
      - token
    configs:
      - site
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
  debug:
    image: shoal-testapp:v1
    command: ["serve", "--port", "9000"]
    profiles: ["debug"]
volumes:
  dbdata: {}
secrets:
  token:
    file: ./token.txt
configs:
  site:
    file: ./site.conf
`

// TestClusterComposeWholeProject runs wholeCompose on three hosts with no
// registry: the built image reaches the hosts that run its pods; web starts
// only after the migration finished and the database is healthy; the
// published port answers on every host; services reach each other by name;
// the secret, config and env_file are where compose puts them; killing the
// database's host brings the database back there, with its data, when the
// host returns; an up of an edited file changes only the edited service; a
// rollback returns it; down -v leaves no container, volume, rule or object.
func TestClusterComposeWholeProject(t *testing.T) {
	c := startCluster(t, 3, "--pod-eviction-timeout", "10s")
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	dir := filepath.Join(t.TempDir(), "whole")
	writeFiles(t, dir, map[string]string{
		"compose.yaml":   wholeCompose,
		"web/Dockerfile": "FROM " + testImage + "\nCOPY marker /marker\n",
		"web/marker":     "built-for-whole-" + randomSuffix(),
		"web.env":        "FROM_ENV_FILE=yes\n",
		"token.txt":      "s3cret-token",
		"site.conf":      "site=whole\n",
	})
	file := filepath.Join(dir, "compose.yaml")
	const image = "whole-web"

	// h1 builds and answers the test: keep the pods off it, so that the
	// image must travel and the host killed below is not the one asked.
	h1.shoal("cordon", "h1")
	out := h1.shoal("compose", "-f", file, "up", "--wait-timeout", "4m")
	for _, want := range []string{"web | built " + image, "web: running, 3/3 ready", "migrate: completed"} {
		if !strings.Contains(out, want) {
			t.Errorf("up lacks %q:\n%s", want, out)
		}
	}
	h1.shoal("uncordon", "h1")
	pods := func(svc string) []*api.Pod { return h1.pods(t, "whole", "com.docker.compose.service="+svc) }
	if n := len(pods("debug")); n != 0 {
		t.Errorf("the debug profile is off, yet %d debug pods", n)
	}

	// Order: web's containers started after the migration ended and after
	// the database was ready.
	mig, db := pods("migrate"), pods("db")
	if len(mig) != 1 || mig[0].Status.Phase != api.PodSucceeded || len(db) != 1 {
		t.Fatalf("migrate %s, db %s", podFingerprint(mig), podFingerprint(db))
	}
	migEnd := mig[0].Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time
	dbReady := api.FindCondition(db[0].Status.Conditions, api.PodReady).LastTransitionTime.Time
	webNodes := map[string]bool{}
	for _, p := range pods("web") {
		webNodes[p.Spec.NodeName] = true
		started := p.Status.ContainerStatuses[0].State.Running.StartedAt.Time
		if started.Before(migEnd) || started.Before(dbReady) {
			t.Errorf("web pod %s started at %s: before the migration ended (%s) or db was ready (%s)", p.Name, started, migEnd, dbReady)
		}
	}

	// The image built on h1 is on exactly the hosts that run web, and h1.
	builtID := c.docker(1, "image", "inspect", "-f", "{{.Id}}", image)
	want := []string{"h1"}
	for n := range webNodes {
		if n != "h1" {
			want = append(want, n)
		}
	}
	sort.Strings(want)
	poll.Until(t, 30*time.Second, "the nodes reporting the built image", func() error {
		id, nodes := imageHosts(t, h1, image)
		if id != builtID || !slices.Equal(nodes, want) {
			return fmt.Errorf("image ls: %s on %v; want %s on %v", id, nodes, builtID, want)
		}
		return nil
	})
	for i := 2; i <= 3; i++ {
		got, err := c.agent(i).dockerIn("image", "inspect", "-f", "{{.Id}}", image)
		if webNodes[fmt.Sprintf("h%d", i)] != (err == nil) || (err == nil && got != builtID) {
			t.Errorf("h%d holds %q (%v); runs web: %v", i, got, err, webNodes[fmt.Sprintf("h%d", i)])
		}
	}

	// The published port answers on every host, and what web says.
	get := func(host int, path string) (string, error) {
		cl := &http.Client{Timeout: 5 * time.Second}
		resp, err := cl.Get(fmt.Sprintf("http://10.213.0.%d:30081%s", 10+host, path))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return strings.TrimSpace(string(b)), err
	}
	for i := 1; i <= 3; i++ {
		poll.Until(t, 30*time.Second, fmt.Sprintf("web through port 30081 of h%d", i), func() error {
			name, err := get(i, "/hostname")
			if err == nil && !strings.HasPrefix(name, "web-") {
				err = fmt.Errorf("answered by %q", name)
			}
			return err
		})
	}
	for path, want := range map[string]string{
		"/call?url=http://db:5432/hostname": "db-",          // another service by name
		"/file?path=/run/secrets/token":     "s3cret-token", // the secret, as compose mounts it
		"/file?path=/site":                  "site=whole",   // the config, at compose's default target
		"/env":                              "FROM_ENV_FILE=yes",
		"/file?path=/marker":                "built-for-whole-",
	} {
		if got, err := get(2, path); err != nil || !strings.Contains(got, want) {
			t.Errorf("GET %s: %q %v; want %q in it", path, got, err, want)
		}
	}

	// The database's host dies: its pod waits for that host (its volume is
	// there), web goes on answering, and the database comes back there
	// with its data.
	home := db[0].Spec.NodeName
	h1.shoal("compose", "-f", file, "exec", "db", "/testapp", "write", "/data/row", "kept-on-"+home)
	i := int(home[1] - '0')
	c.kill(i)
	poll.Until(t, 90*time.Second, "db's replacement Pending, waiting for "+home, func() error {
		for _, p := range pods("db") {
			if p.UID == db[0].UID {
				return fmt.Errorf("%s's pod not evicted yet", home)
			}
			if p.Spec.NodeName != "" {
				t.Fatalf("db's replacement was bound to %s while %s, its volume's host, is down", p.Spec.NodeName, home)
			}
			return nil
		}
		return fmt.Errorf("no replacement yet")
	})
	other := 5 - i // of h2 and h3, the one left
	if _, err := get(other, "/hostname"); err != nil {
		t.Errorf("web through h%d while %s is down: %v", other, home, err)
	}
	c.start(i)
	poll.Until(t, 120*time.Second, "db running on "+home+" again", func() error {
		ps := pods("db")
		if readyPods(ps) != 1 {
			return fmt.Errorf("db: %s", podFingerprint(ps))
		}
		if ps[0].Spec.NodeName != home {
			t.Fatalf("db came back on %s, not on %s where its volume is", ps[0].Spec.NodeName, home)
		}
		return nil
	})
	if got := strings.TrimSpace(h1.shoal("compose", "-f", file, "exec", "db", "/testapp", "cat", "/data/row")); got != "kept-on-"+home {
		t.Fatalf("db's data after its host came back: %q", got)
	}

	// An edited web: only web changes; the rollback returns it.
	if err := os.WriteFile(file, []byte(strings.Replace(wholeCompose, "EDITION: one", "EDITION: two", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out = h1.shoal("compose", "-f", file, "up", "--wait-timeout", "4m")
	for _, want := range []string{"deployment.apps/web configured", "deployment.apps/db unchanged", "job.batch/migrate unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("up of the edited file lacks %q:\n%s", want, out)
		}
	}
	edition := func(want string) {
		poll.Until(t, 90*time.Second, "every web pod at EDITION="+want, func() error {
			ps := pods("web")
			for _, p := range ps {
				if p.DeletionTimestamp != nil {
					return fmt.Errorf("%s terminating", p.Name)
				}
				for _, e := range p.Spec.Containers[0].Env {
					if e.Name == "EDITION" && e.Value != want {
						return fmt.Errorf("%s has EDITION=%s", p.Name, e.Value)
					}
				}
			}
			if readyPods(ps) != 3 || len(ps) != 3 {
				return fmt.Errorf("web: %s", podFingerprint(ps))
			}
			return nil
		})
	}
	edition("two")
	out = h1.shoal("compose", "-p", "whole", "rollback", "--wait-timeout", "4m")
	if !strings.Contains(out, "deployment.apps/web configured") || !strings.Contains(out, "deployment.apps/db unchanged") {
		t.Errorf("rollback:\n%s", out)
	}
	edition("one")

	// down -v: nothing of the project is left on any host.
	h1.shoal("compose", "-f", file, "down", "-v")
	if _, err := h1.client.Get(ctx(t), api.KindNamespace, "", "whole"); !api.IsNotFound(err) {
		t.Errorf("namespace whole after down -v: %v", err)
	}
	poll.Until(t, 60*time.Second, "no container, volume or rule of the project on any host", func() error {
		for i := 1; i <= 3; i++ {
			if ids := c.docker(i, "ps", "-aq", "--filter", "label=io.shoal.pod.namespace=whole"); ids != "" {
				return fmt.Errorf("h%d still has containers %s", i, strings.Fields(ids))
			}
			if vols := c.docker(i, "volume", "ls", "-q", "--filter", "name=shoal-pvc-whole-"); vols != "" {
				return fmt.Errorf("h%d still has volumes %s", i, strings.Fields(vols))
			}
			rules, err := exec.Command("ip", "netns", "exec", fmt.Sprintf("shoal-h%d", i), "iptables-save").CombinedOutput()
			if err != nil {
				return fmt.Errorf("iptables-save on h%d: %v %s", i, err, rules)
			}
			if strings.Contains(string(rules), "30081") || strings.Contains(string(rules), "whole/") {
				return fmt.Errorf("h%d still has rules of the project", i)
			}
		}
		return nil
	})
}
