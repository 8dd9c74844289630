package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

const cliVerbsPod = `apiVersion: v1
kind: Pod
metadata: {name: verbs, labels: {app: verbs}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["serve", "--port", "8080"]
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: verbs}
spec:
  selector: {app: verbs}
  ports: [{name: web, port: 80, targetPort: http}]
`

var forwardingLine = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)

// startPortForward runs `shoal port-forward` as a user would and returns
// the local port once it listens; the process is stopped when the test ends.
func startPortForward(t *testing.T, a *agent, args ...string) (local, remote string) {
	t.Helper()
	cmd := exec.Command(shoalBin(t), a.cliArgs(append([]string{"port-forward"}, args...)...)...)
	var out, errOut syncedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	poll.Cond(t, 20*time.Second, "port-forward listening", func() bool {
		return forwardingLine.MatchString(out.String())
	})
	m := forwardingLine.FindStringSubmatch(out.String())
	return m[1], m[2]
}

// TestCLICopyAndPortForward drives `shoal cp` both ways and `shoal
// port-forward` to a pod and to a Service against a pod on a real engine.
func TestCLICopyAndPortForward(t *testing.T) {
	a := startAgent(t)
	if _, errOut, err := a.shoalIn([]byte(cliVerbsPod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	poll.Until(t, 90*time.Second, "pod verbs ready", func() error {
		if r := readyPods(a.pods(t, "default", "app=verbs")); r != 1 {
			return fmt.Errorf("%d ready pods", r)
		}
		return nil
	})

	t.Run("port-forward to the pod and through the service", func(t *testing.T) {
		local, remote := startPortForward(t, a, "pod/verbs", "0:8080")
		if remote != "8080" {
			t.Fatalf("forwards to %s", remote)
		}
		got, err := httpGet("http://127.0.0.1:" + local + "/hostname")
		if err != nil || got != "verbs" {
			t.Fatalf("GET /hostname through pod/verbs: %q, %v", got, err)
		}
		local, remote = startPortForward(t, a, "svc/verbs", ":80")
		if remote != "8080" {
			t.Fatalf("svc/verbs port 80 forwards to %s, want the target port 8080", remote)
		}
		for i := 0; i < 3; i++ { // each connection is a new stream pair
			if got, err := httpGet("http://127.0.0.1:" + local + "/hostname"); err != nil || got != "verbs" {
				t.Fatalf("GET %d through svc/verbs: %q, %v", i, got, err)
			}
		}
	})

	t.Run("bash completes the pod's name from the agent", func(t *testing.T) {
		// bash-completion's helper, reduced to what cobra's script reads.
		script := `_get_comp_words_by_ref() { cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
source <("$SHOAL" completion bash)
COMP_WORDS=(shoal --kubeconfig "$KC" --server "$SRV" logs "")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
shoal() { "$SHOAL" "$@"; }
__start_shoal 2>/dev/null
echo "${COMPREPLY[*]}"`
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), "SHOAL="+shoalBin(t), "KC="+a.kubeconfig(), "SRV="+a.url())
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "verbs" {
			t.Fatalf("bash completion of `shoal logs `: %q, %v; want the pod verbs", out, err)
		}
	})

	t.Run("cp a directory to the pod and back", func(t *testing.T) {
		local := t.TempDir()
		big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		files := map[string][]byte{"site/index.html": []byte("<h1>verbs</h1>\n"), "site/deep/big.bin": big}
		for name, data := range files {
			p := filepath.Join(local, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		a.shoal("exec", "verbs", "--", "mkdir", "-p", "/work")
		a.shoal("cp", filepath.Join(local, "site"), "verbs:/work/site")
		if got := a.shoal("exec", "verbs", "--", "cat", "/work/site/index.html"); got != "<h1>verbs</h1>\n" {
			t.Fatalf("the copied file in the pod: %q", got)
		}
		back := filepath.Join(local, "back")
		a.shoal("cp", "verbs:/work/site", back)
		for name, want := range files {
			got, err := os.ReadFile(filepath.Join(back, strings.TrimPrefix(name, "site/")))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s back from the pod: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
			}
		}
		a.shoal("cp", "verbs:/work/site/index.html", filepath.Join(local, "one.html"))
		if got, _ := os.ReadFile(filepath.Join(local, "one.html")); string(got) != "<h1>verbs</h1>\n" {
			t.Fatalf("one file back: %q", got)
		}
		if _, errOut, err := a.shoalIn(nil, "cp", "verbs:/work/missing", filepath.Join(local, "x")); err == nil || !strings.Contains(errOut, "tar in pod verbs") {
			t.Fatalf("a missing path: %v %q", err, errOut)
		}
	})
}

// syncedBuffer is a bytes.Buffer a process writes while the test reads it.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
