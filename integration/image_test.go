package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
	"github.com/shoal-dev/shoal/internal/poll"
)

// documentedDockerRun is the `docker run` command docs/install.md gives
// for the agent's container: the shell lines between the docker-run
// markers, as words.
func documentedDockerRun(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- docker-run -->\\s*```sh\\n(.*?)```\\s*<!-- /docker-run -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/install.md: no ```sh block between <!-- docker-run --> and <!-- /docker-run -->")
	}
	words := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))
	if len(words) < 3 || words[0] != "docker" || words[1] != "run" {
		t.Fatalf("docs/install.md: the docker-run block is not one docker run command: %q", m[1])
	}
	return words[1:]
}

// TestAgentRunsFromTheContainerImage builds the FROM scratch image of the
// top-level Dockerfile offline, starts the agent by the command
// docs/install.md documents (its settings in a configuration file), and
// checks that it forms a working one-node cluster: the node is Ready, a
// Deployment's pod runs with a subPath volume (a bind mount the agent makes
// in its container, seen by the engine through the shared mount), a
// Service's cluster IP answers from the host (rules written by the host's
// iptables through the image's links), and `docker stop` ends the agent
// cleanly and leaves the pod running.
func TestAgentRunsFromTheContainerImage(t *testing.T) {
	suffix := randomSuffix()
	image := buildShoalImage(t, suffix)

	// The data dir is shared with the host both ways (rshared), as the
	// documented command mounts /var/lib/shoal; on a host whose / is not
	// a shared mount (no systemd, as here) install.md has it made one.
	dataDir, err := os.MkdirTemp("", "shoal-it-image-")
	if err != nil {
		t.Fatal(err)
	}
	sharedMount(t, dataDir)
	confDir := t.TempDir()
	a := &agent{t: t, name: "it-" + suffix, dataDir: dataDir, port: freePort(t)}
	config := fmt.Sprintf(`# settings of a test agent
name: %s
data-dir: %s
api-addr: 127.0.0.1:%d
bind: 127.0.0.1:0
ingress-addr: 127.0.0.1:0
ingress-tls-addr: 127.0.0.1:0
dns-addr: 127.0.0.1:0
log-level: debug
`, a.name, dataDir, a.port)
	if err := os.WriteFile(filepath.Join(confDir, "agent.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	container := "shoal-" + a.name
	// The pod sandbox image is made by the agent from its own binary and
	// imported into the engine: remove this binary's, so that the agent in
	// its container has to import it.
	pause := sandboxImageOf(t, shoalBin(t))
	_ = exec.Command("docker", "rmi", pause).Run()
	sandboxRemoved := exec.Command("docker", "image", "inspect", pause).Run() != nil
	if !sandboxRemoved {
		t.Logf("%s is in use and stays: this run does not show the import from inside the container", pause)
	}
	args := dockerRunAs(t, image, container, dataDir, confDir, "")
	t.Logf("docker %s", strings.Join(args, " "))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "60", container).CombinedOutput()
			t.Logf("agent log (last lines):\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", container).Run()
		removeContainers(a.name)
		unmountShared(dataDir)
		os.RemoveAll(dataDir)
	})
	docker(t, args...)

	poll.Until(t, 60*time.Second, "agent in its container ready", func() error {
		resp, err := httpGetCA(a.url()+"/readyz", a.caFile())
		if err != nil {
			return err
		}
		if resp != "ok" {
			return fmt.Errorf("readyz: %s", resp)
		}
		return nil
	})
	a.client = a.newClient(t, "")

	poll.Until(t, 30*time.Second, "node Ready in shoal get nodes", func() error {
		out, _, err := a.shoalIn(nil, "get", "nodes")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == a.name && f[1] == "Ready" {
				return nil
			}
		}
		return fmt.Errorf("no Ready row for %s:\n%s", a.name, out)
	})

	manifests := `apiVersion: v1
kind: ConfigMap
metadata: {name: greeting}
data: {text: hello from a subPath}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: ` + testImage + `
        args: ["serve", "--port", "8080"]
        volumeMounts:
        - {name: greeting, mountPath: /etc/greeting.txt, subPath: text}
      volumes:
      - name: greeting
        configMap: {name: greeting}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`
	if _, errOut, err := a.shoalIn([]byte(manifests), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	pods := waitReady(t, a, "app=web", 1, 90*time.Second)
	if pods[0].Spec.NodeName != a.name {
		t.Fatalf("pod on %q, want %q", pods[0].Spec.NodeName, a.name)
	}

	if sandboxRemoved {
		if err := exec.Command("docker", "image", "inspect", pause).Run(); err != nil {
			t.Fatalf("the pod runs, but its sandbox image %s is not in the engine: %v", pause, err)
		}
		t.Logf("the agent in its container imported the sandbox image %s", pause)
	}

	svc, err := a.client.Get(ctx(t), api.KindService, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	vip := svc.(*api.Service).Spec.ClusterIP
	poll.Until(t, 30*time.Second, "the Service's cluster IP answers from the host", func() error {
		got, err := httpGet("http://" + vip + "/file?path=/etc/greeting.txt")
		if err != nil {
			return err
		}
		if got != "hello from a subPath" {
			return fmt.Errorf("got %q", got)
		}
		return nil
	})

	// docker stop sends SIGTERM: the agent ends by itself, with status 0,
	// and the pod's containers stay (they belong to the engine).
	start := time.Now()
	docker(t, "stop", "-t", "30", container)
	if code := docker(t, "inspect", "-f", "{{.State.ExitCode}}", container); code != "0" {
		t.Fatalf("agent container exited with %s, want 0", code)
	}
	t.Logf("docker stop took %s", time.Since(start).Round(time.Millisecond))
	if n := len(runningApps(t, a.name)); n != 1 {
		t.Fatalf("%d app containers running after the agent stopped, want 1", n)
	}
}

// buildShoalImage builds the top-level Dockerfile offline, from the binary
// under test, and returns the image's tag (removed at the end of the test).
func buildShoalImage(t *testing.T, suffix string) string {
	t.Helper()
	image := "shoal-it-image:" + suffix
	buildDir := t.TempDir()
	copyFile(t, shoalBin(t), filepath.Join(buildDir, "bin", "shoal"), 0o755)
	copyFile(t, filepath.Join("..", "Dockerfile"), filepath.Join(buildDir, "Dockerfile"), 0o644)
	copyFile(t, filepath.Join("..", ".dockerignore"), filepath.Join(buildDir, ".dockerignore"), 0o644)
	build := exec.Command("docker", "build", "-q", "-t", image, buildDir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Logf("image built offline in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	if got := docker(t, "image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Config.Entrypoint}}", image); got != "2 [/usr/bin/shoal]" {
		t.Fatalf("image: layers and entrypoint %q, want the binary's layer and the links' layer, entrypoint /usr/bin/shoal", got)
	}
	return image
}

// sharedMount makes dir its own shared mount, as docs/install.md has a
// host without systemd do for /var/lib/shoal (here / is not shared).
func sharedMount(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{{"--bind", dir, dir}, {"--make-rshared", dir}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v: %s", args, err, out)
		}
	}
}

// unmountShared undoes sharedMount, with the mounts the agent made below.
func unmountShared(dir string) { _ = exec.Command("umount", "-R", "-l", dir).Run() }

// dockerRunAs is the documented docker run command with the test's image,
// container name, data dir and configuration dir put in, and, when socket
// is given, that engine's socket mounted in place of /var/run/docker.sock.
func dockerRunAs(t *testing.T, image, container, dataDir, confDir, socket string) []string {
	t.Helper()
	args := documentedDockerRun(t)
	for i, w := range args {
		switch {
		case w == "shoal:latest":
			args[i] = image
		case i > 0 && args[i-1] == "--name" && w == "shoal":
			args[i] = container
		case strings.HasPrefix(w, "/var/lib/shoal:/var/lib/shoal"):
			args[i] = strings.ReplaceAll(w, "/var/lib/shoal", dataDir)
		case strings.HasPrefix(w, "/etc/shoal:/etc/shoal"):
			args[i] = confDir + ":/etc/shoal" + strings.TrimPrefix(w, "/etc/shoal:/etc/shoal")
		case socket != "" && w == "/var/run/docker.sock:/var/run/docker.sock":
			args[i] = socket + ":/var/run/docker.sock"
		}
	}
	return args
}

// sandboxImageOf is the sandbox image the agent of the binary makes on
// this machine (daemon/node/sandbox).
func sandboxImageOf(t *testing.T, bin string) string {
	t.Helper()
	ref, err := sandbox.Ref(bin)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
