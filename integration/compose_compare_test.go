package integration

import (
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// compareDir holds the project TestComposeAnswersAsDockerCompose runs.
const compareDir = "testdata/compare"

// answer is what one request through a published port got back.
type answer struct {
	Status int
	Body   string
}

func (a answer) String() string { return fmt.Sprintf("%d %q", a.Status, a.Body) }

// hostAddress is a local IPv4 address other than loopback: shoal answers
// node ports on the host's addresses but not on 127.0.0.1 (DNAT of
// loopback traffic would need route_localnet), and docker-compose publishes
// on every address, so both are asked at the same one.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Fatal("no IPv4 address other than loopback on this host")
	return ""
}

// ask GETs path from base; a connection error is an answer with status 0,
// so that a comparison shows it.
func ask(base, path string) answer {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + path)
	if err != nil {
		return answer{Body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return answer{Status: resp.StatusCode, Body: string(b)}
}

// call is the path that makes web GET url and relay the answer.
func call(u string) string { return "/call?url=" + url.QueryEscape(u) }

// withoutHostname drops HOSTNAME from an environment listing: it is the
// container's host name, an engine container ID under docker-compose and
// the pod's name under shoal. Every other variable must be the same (the
// image's, the project's, and none added by either runtime).
func withoutHostname(env string) string {
	var out []string
	for _, line := range strings.Split(env, "\n") {
		if !strings.HasPrefix(line, "HOSTNAME=") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// echoed keeps what /echo says about the request itself; the caller's
// address and the answering host's name are the engine's and the
// cluster's to choose, and differ.
func echoed(body string) string {
	var e struct {
		Method  string            `json:"method"`
		URI     string            `json:"uri"`
		Host    string            `json:"host"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return "not JSON: " + body
	}
	return fmt.Sprintf("%s %s host=%s user-agent=%s", e.Method, e.URI, e.Host, e.Headers["User-Agent"])
}

// copyProject copies the compare project into a directory of the test, so
// that neither tool writes beside the source.
func copyProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(compareDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(compareDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestComposeAnswersAsDockerCompose runs one project (a web service with a
// published port calling an api service by name; env_file, environment and
// interpolation; a secret and a config) under Debian's docker-compose on
// the host's engine and under `shoal compose up` on an agent at the same
// time, sends the same requests through each one's published port and
// requires the same answers. Both are taken down with -v and leave nothing.
func TestComposeAnswersAsDockerCompose(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is not installed (scripts/test installs Debian's docker-compose)")
	}
	a := startAgent(t)
	dir := copyProject(t)
	file := filepath.Join(dir, "compose.yaml")
	project := "cmp-" + a.name // it-xxxxxx: scripts/test removes what an interrupted run left
	host := hostAddress(t)
	composePort := freePort(t)
	shoalPort := 31000 + mrand.IntN(1700)

	// docker-compose, on the host's engine.
	dc := func(args ...string) (string, error) {
		cmd := exec.Command("docker-compose", append([]string{"-p", project, "-f", file}, args...)...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("WEB_PORT=%d", composePort))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { dc("down", "-v", "--timeout", "1") })
	dcUp, err := dc("up", "-d")
	if err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, dcUp)
	}

	// shoal, on the agent; up follows the services until they are ready.
	sh := func(args ...string) (string, error) {
		cmd := exec.Command(shoalBin(t), a.cliArgs(append([]string{"compose", "-p", project, "-f", file}, args...)...)...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("WEB_PORT=%d", shoalPort))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { sh("down", "-v") })
	if out, err := sh("up", "--wait-timeout", "60s"); err != nil {
		t.Fatalf("shoal compose up: %v\n%s", err, out)
	}

	viaCompose := fmt.Sprintf("http://%s:%d", host, composePort)
	viaShoal := fmt.Sprintf("http://%s:%d", host, shoalPort)
	// Both are up once web answers and reaches api by name (api is healthy
	// before web starts under both, but a published port may take a
	// moment to be wired).
	for _, base := range []string{viaCompose, viaShoal} {
		poll.Until(t, 30*time.Second, "web at "+base+" reaches api", func() error {
			got := ask(base, call("http://api:9000/healthz"))
			if got.Status == http.StatusNotFound && got.Body == "404 page not found\n" {
				// web itself answered: its image has no /call.
				t.Fatalf("%s: shoal-testapp:v1 has no /call: build it again with scripts/build-images", base)
			}
			if got.Status != 200 {
				return fmt.Errorf("got %v", got)
			}
			return nil
		})
	}

	type request struct {
		what, path string
		norm       func(string) string // nil: the body as it is
	}
	requests := []request{
		{"web's environment", "/env", withoutHostname},
		{"api's environment by name: env_file, environment over it, interpolation", call("http://api:9000/env"), withoutHostname},
		{"the project's name for api (headless DNS under shoal, the embedded DNS under compose)", call("http://api:9000/echo"), echoed},
		{"the secret at /run/secrets/token", call("http://api:9000/file?path=/run/secrets/token"), nil},
		{"a secret api was not given", call("http://api:9000/file?path=/run/secrets/other"), nil},
		{"web by its own name", call("http://web:8080/version"), nil},
		// The resolver's address is in the error: only the status is compared.
		{"a service the project lacks", call("http://db:5432/"), func(string) string { return "" }},
	}
	for _, r := range requests {
		c, s := ask(viaCompose, r.path), ask(viaShoal, r.path)
		if r.norm != nil {
			c.Body, s.Body = r.norm(c.Body), r.norm(s.Body)
		}
		t.Logf("%s: %v", r.what, c)
		if c != s {
			t.Errorf("%s (GET %s):\ndocker-compose: %v\nshoal:          %v", r.what, r.path, c, s)
		}
	}

	// The config. Debian's docker-compose 1.29 ignores `configs` (it says
	// so: "Compose does not support 'configs'"; Docker Compose v2 mounts
	// them), so there shoal's answer is held to the file itself.
	settings, err := os.ReadFile(filepath.Join(dir, "settings.conf"))
	if err != nil {
		t.Fatal(err)
	}
	configPath := call("http://api:9000/file?path=/etc/api/settings.conf")
	want := answer{Status: 200, Body: string(settings)}
	if c := ask(viaCompose, configPath); c != want {
		if !strings.Contains(dcUp, "does not support 'configs'") {
			t.Errorf("config under docker-compose: %v, want %v", c, want)
		}
	}
	if s := ask(viaShoal, configPath); s != want {
		t.Errorf("config under shoal: %v, want %v", s, want)
	}

	// Down -v under both leaves nothing of the project.
	if out, err := dc("down", "-v", "--timeout", "1"); err != nil {
		t.Fatalf("docker-compose down -v: %v\n%s", err, out)
	}
	if out, err := sh("down", "-v"); err != nil {
		t.Fatalf("shoal compose down -v: %v\n%s", err, out)
	}
	label := "label=com.docker.compose.project=" + project
	for _, kind := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"}} {
		if left := docker(t, append(kind, "--filter", label)...); left != "" {
			t.Errorf("docker-compose down -v left %s: %s", kind[0], left)
		}
	}
	poll.Until(t, 60*time.Second, "shoal's project gone", func() error {
		if n := len(projectContainers(t, a.name, project)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		if out, _, err := a.shoalIn(nil, "get", "namespace", project); err == nil {
			return fmt.Errorf("namespace still there: %s", out)
		}
		return nil
	})
}
