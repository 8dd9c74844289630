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

const composeBuild = `
services:
  web:
    build:
      context: ./web
      target: prod
      args:
        GREETING: built-by-shoal
      labels:
        com.example.team: shop
    command: ["serve", "--port", "8080"]
    stop_grace_period: 1s
`

// writeFiles writes files (path: content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestComposeUpBuildsAndRunsABuildService: up builds a build: service's
// image from its context with the engine of the agent's host (offline:
// FROM the local test image), with its target, args and labels, without
// what .dockerignore excludes, and runs it; a context outside the project
// is refused naming the service and the key, and nothing is created.
func TestComposeUpBuildsAndRunsABuildService(t *testing.T) {
	a := startAgent(t)
	project := "bld-" + randomSuffix()
	image := project + "-web"
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	dir := filepath.Join(t.TempDir(), project)
	writeFiles(t, dir, map[string]string{
		"compose.yaml": composeBuild,
		"web/Dockerfile": "FROM " + testImage + " AS base\nARG GREETING=none\n" +
			"COPY greeting.txt /greeting.txt\nCOPY . /ctx/\n" +
			"RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING > /greeting\"]\n" +
			"FROM base AS prod\nLABEL stage=prod\n" +
			"FROM base AS debug\nLABEL stage=debug\n",
		"web/greeting.txt":  "hello\n",
		"web/secret.key":    "must not be sent",
		"web/.dockerignore": "*.key\n",
	})
	file := filepath.Join(dir, "compose.yaml")

	out := a.shoal("compose", "-f", file, "up", "--wait-timeout", "2m")
	for _, want := range []string{"web | Step", "web | built " + image, "deployment.apps/web created", "web: running, 1/1 ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("up lacks %q:\n%s", want, out)
		}
	}
	labels := docker(t, "image", "inspect", "--format", "{{json .Config.Labels}}", image)
	if !strings.Contains(labels, `"stage":"prod"`) || !strings.Contains(labels, `"com.example.team":"shop"`) {
		t.Errorf("image labels %s: want the prod target's and build.labels", labels)
	}
	var id string
	poll.Until(t, 30*time.Second, "the web container", func() error {
		for _, c := range projectContainers(t, a.name, project) {
			if c.Labels["io.shoal.container.name"] == "web" && c.State == "running" {
				id = c.ID
				return nil
			}
		}
		return fmt.Errorf("no running web container")
	})
	if got := docker(t, "exec", id, "/bin/busybox", "cat", "/greeting", "/greeting.txt"); got != "built-by-shoal\nhello" {
		t.Errorf("the container's files %q: want the build arg and the copied file", got)
	}
	if got := strings.Fields(docker(t, "exec", id, "/bin/busybox", "ls", "-A", "/ctx")); strings.Join(got, " ") != ".dockerignore Dockerfile greeting.txt" {
		t.Errorf("the context sent was %v: want it without secret.key, which .dockerignore excludes", got)
	}
	// The verbs on the running project: exec in its pod, top from the
	// engine, images, events, restart.
	if got := a.shoal("compose", "-f", file, "exec", "web", "/bin/busybox", "cat", "/greeting"); got != "built-by-shoal\n" {
		t.Errorf("compose exec: %q", got)
	}
	if top := a.shoal("compose", "-f", file, "top", "web"); !strings.Contains(top, "PID") || !strings.Contains(top, "serve --port 8080") {
		t.Errorf("compose top:\n%s", top)
	}
	imgID := docker(t, "image", "inspect", "--format", "{{.Id}}", image)
	if images := a.shoal("compose", "-f", file, "images"); !strings.Contains(images, image) || !strings.Contains(images, strings.TrimPrefix(imgID, "sha256:")[:12]) || !strings.Contains(images, a.name) {
		t.Errorf("compose images (want %s %s on %s):\n%s", image, imgID, a.name, images)
	}
	if evs := a.shoal("compose", "-f", file, "events", "--follow=false", "web"); !strings.Contains(evs, "Started") {
		t.Errorf("compose events:\n%s", evs)
	}
	before := a.pods(t, project, "com.docker.compose.service=web")[0].Name
	if out := a.shoal("compose", "-f", file, "restart", "--wait-timeout", "2m", "web"); !strings.Contains(out, "web: running, 1/1 ready") {
		t.Errorf("compose restart:\n%s", out)
	}
	poll.Cond(t, 60*time.Second, "web's pod replaced", func() bool {
		pods := a.pods(t, project, "com.docker.compose.service=web")
		return len(pods) == 1 && pods[0].Name != before && readyPods(pods) == 1
	})
	a.shoal("compose", "-f", file, "up", "-d") // keeps the restart: nothing rolls out

	pods := a.pods(t, project, "com.docker.compose.service=web")
	if len(pods) != 1 || pods[0].Spec.Containers[0].Image != image || pods[0].Spec.Containers[0].ImagePullPolicy != api.PullIfNotPresent {
		t.Fatalf("web pods %v", pods)
	}

	// up again: the image is there and nothing changed, so nothing is
	// built or rolled out.
	out = a.shoal("compose", "-f", file, "up", "-d")
	if !strings.Contains(out, "image "+image+" is there") || strings.Contains(out, "configured") {
		t.Errorf("second up:\n%s", out)
	}
	a.shoal("compose", "-f", file, "down")

	// A context that leaves the project is refused before anything is
	// built or created.
	bad := filepath.Join(t.TempDir(), "bad")
	writeFiles(t, bad, map[string]string{"compose.yaml": "name: " + project + "-bad\nservices:\n  web:\n    build: ../outside\n"})
	writeFiles(t, filepath.Dir(bad), map[string]string{"outside/Dockerfile": "FROM " + testImage + "\n"})
	_, errOut, err := a.shoalIn(nil, "compose", "-f", filepath.Join(bad, "compose.yaml"), "up", "-d")
	if err == nil || !strings.Contains(errOut, `service "web": build.context "`) || !strings.Contains(errOut, "outside the project directory") {
		t.Fatalf("a context outside the project: %v\n%s", err, errOut)
	}
	if _, err := a.client.Get(ctx(t), api.KindNamespace, "", project+"-bad"); !api.IsNotFound(err) {
		t.Errorf("the refused project's namespace: %v", err)
	}
	if out, _ := exec.Command("docker", "image", "inspect", project+"-bad-web").CombinedOutput(); !strings.Contains(string(out), "No such image") {
		t.Errorf("the refused project's image was built: %s", out)
	}

	// An image no host holds and no registry serves (none is reachable
	// here): up asks a host to pull it first, as docker compose does, and
	// refuses naming the service and the image, with nothing created.
	missing := filepath.Join(t.TempDir(), "missing")
	writeFiles(t, missing, map[string]string{"compose.yaml": "name: " + project + "-missing\nservices:\n  api:\n    image: " + project + "-nosuch:1\n"})
	_, errOut, err = a.shoalIn(nil, "compose", "-f", filepath.Join(missing, "compose.yaml"), "up", "-d")
	if err == nil || !strings.Contains(errOut, `service api: image "`+project+`-nosuch:1"`) || !strings.Contains(errOut, "could not pull it from its registry") {
		t.Fatalf("an image nobody has: %v\n%s", err, errOut)
	}
	if _, err := a.client.Get(ctx(t), api.KindNamespace, "", project+"-missing"); !api.IsNotFound(err) {
		t.Errorf("the refused project's namespace: %v", err)
	}
}

// TestComposeDownVRemovesTheProjectsVolumes: a named volume is an engine
// volume on the host that ran the pod; down keeps it (up finds the data
// again), down -v leaves no volume and no container of the project.
func TestComposeDownVRemovesTheProjectsVolumes(t *testing.T) {
	a := startAgent(t)
	project := "vol-" + randomSuffix()
	volume := "shoal-pvc-" + project + "-data"
	t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", "-f", volume).Run() })
	dir := filepath.Join(t.TempDir(), project)
	writeFiles(t, dir, map[string]string{"compose.yaml": `
services:
  db:
    image: ` + testImage + `
    command: ["serve", "--port", "5432"]
    stop_grace_period: 1s
    volumes: ["data:/data"]
volumes:
  data: {}
`})
	file := filepath.Join(dir, "compose.yaml")
	a.shoal("compose", "-f", file, "up", "--wait-timeout", "2m")
	if got := docker(t, "volume", "ls", "-q", "--filter", "name="+volume); got != volume {
		t.Fatalf("volume %s not made: %q", volume, got)
	}
	dbContainer := func() string {
		for _, c := range projectContainers(t, a.name, project) {
			if c.Labels["io.shoal.container.name"] == "db" && c.State == "running" {
				return c.ID
			}
		}
		return ""
	}
	var id string
	poll.Cond(t, 30*time.Second, "the db container", func() bool { id = dbContainer(); return id != "" })
	docker(t, "exec", id, "/bin/busybox", "sh", "-c", "echo kept > /data/file")

	// down keeps the volume, and up finds its data.
	a.shoal("compose", "-f", file, "down")
	if got := docker(t, "volume", "ls", "-q", "--filter", "name="+volume); got != volume {
		t.Fatalf("down without -v removed the volume: %q", got)
	}
	a.shoal("compose", "-f", file, "up", "--wait-timeout", "2m")
	poll.Cond(t, 30*time.Second, "the db container", func() bool { id = dbContainer(); return id != "" })
	if got := docker(t, "exec", id, "/bin/busybox", "cat", "/data/file"); got != "kept" {
		t.Fatalf("the data after down and up: %q", got)
	}

	out := a.shoal("compose", "-f", file, "down", "-v")
	for _, want := range []string{"db: removed", "(volumes): removed " + volume, "namespace/" + project + " deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("down -v lacks %q:\n%s", want, out)
		}
	}
	if got := docker(t, "volume", "ls", "-q", "--filter", "name="+volume); got != "" {
		t.Errorf("volumes after down -v: %q", got)
	}
	poll.Until(t, 60*time.Second, "no container of the project left", func() error {
		if cs := projectContainers(t, a.name, project); len(cs) != 0 {
			return fmt.Errorf("%d containers left", len(cs))
		}
		return nil
	})
}
