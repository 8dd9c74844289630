package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/shoal-dev/shoal/internal/poll"
)

// kubeStreamPod has a web server (app), a process reading its stdin (echo)
// and a log writer (ticker).
const kubeStreamPod = `apiVersion: v1
kind: Pod
metadata: {name: kstream, labels: {app: kstream}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["serve", "--port", "8080"]
  - name: echo
    image: shoal-testapp:v1
    command: ["/bin/sh", "-c", "while read l; do echo got-$l; done"]
    stdin: true
  - name: ticker
    image: shoal-testapp:v1
    command: ["/bin/sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done"]
`

// restConfig is client-go's configuration from the agent's
// admin.kubeconfig, as kubectl reads it.
func restConfig(t *testing.T, a *agent) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = a.url()
	return cfg
}

// kubectlExecutor is the executor kubectl 1.32 builds: websocket first,
// SPDY when the upgrade fails.
func kubectlExecutor(t *testing.T, cfg *rest.Config, u *url.URL) remotecommand.Executor {
	t.Helper()
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, sp, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func podSubURL(cfg *rest.Config, pod, sub string, q url.Values) *url.URL {
	u, _ := url.Parse(cfg.Host + "/api/v1/namespaces/default/pods/" + pod + "/" + sub)
	u.RawQuery = q.Encode()
	return u
}

// execQuery is the query kubectl exec sends.
func execQuery(container string, stdin, tty bool, command ...string) url.Values {
	q := url.Values{"container": {container}, "command": command, "stdout": {"true"}}
	if stdin {
		q.Set("stdin", "true")
	}
	if tty {
		q.Set("tty", "true")
	} else {
		q.Set("stderr", "true")
	}
	return q
}

// TestKubectlStreamsWithClientGo drives exec, attach, port-forward, the
// tar streams of kubectl cp and the log options with client-go's own
// code, as kubectl 1.32 does, against a pod on a real engine; and the
// installed kubectl's exec, cp, port-forward and logs.
func TestKubectlStreamsWithClientGo(t *testing.T) {
	a := startAgent(t)
	if _, errOut, err := a.shoalIn([]byte(kubeStreamPod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	poll.Until(t, 90*time.Second, "pod kstream ready", func() error {
		if r := readyPods(a.pods(t, "default", "app=kstream")); r != 1 {
			return fmt.Errorf("%d ready pods", r)
		}
		return nil
	})
	cfg := restConfig(t, a)
	const pod = "kstream"

	t.Run("exec with stdin passes its end and the exit code", func(t *testing.T) {
		ex := kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", true, false, "sh", "-c", "cat; echo oops >&2; exit 5")))
		var out, errOut bytes.Buffer
		err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: strings.NewReader("hello from stdin\n"), Stdout: &out, Stderr: &errOut})
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 5 {
			t.Fatalf("exec: %v (%T), want exit code 5", err, err)
		}
		if out.String() != "hello from stdin\n" || errOut.String() != "oops\n" {
			t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
		}
	})

	t.Run("exec over SPDY, kubectl's fallback", func(t *testing.T) {
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", podSubURL(cfg, pod, "exec", execQuery("app", true, false, "sh", "-c", "cat; exit 6")))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: strings.NewReader("over spdy\n"), Stdout: &out, Stderr: io.Discard})
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 6 || out.String() != "over spdy\n" {
			t.Fatalf("SPDY exec: %v, output %q; want exit code 6 and the input back", err, out.String())
		}
	})

	t.Run("exec with a terminal of the client's size", func(t *testing.T) {
		ex := kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", true, true, "sh", "-c", "sleep 1; stty size; [ -t 1 ] && echo tty")))
		var out bytes.Buffer
		pr, pw := io.Pipe()
		defer pw.Close()
		err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: pr, Stdout: &out, Tty: true,
			TerminalSizeQueue: &termSizes{{Width: 123, Height: 45}}})
		if err != nil {
			t.Fatalf("tty exec: %v", err)
		}
		if got := out.String(); got != "45 123\r\ntty\r\n" {
			t.Fatalf("tty exec output %q, want the size 45 123 and a terminal", got)
		}
	})

	t.Run("exec of a missing command is an error, not a hang", func(t *testing.T) {
		ex := kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", false, false, "/no/such/command")))
		err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
		if err == nil {
			t.Fatal("exec of a missing command succeeded")
		}
	})

	t.Run("attach joins the main process and detaches without stopping it", func(t *testing.T) {
		q := url.Values{"container": {"echo"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}}
		ex := kubectlExecutor(t, cfg, podSubURL(cfg, pod, "attach", q))
		actx, cancel := context.WithTimeout(ctx(t), 30*time.Second)
		defer cancel()
		pr, pw := io.Pipe()
		out := &watchWriter{want: "got-ping", seen: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			done <- ex.StreamWithContext(actx, remotecommand.StreamOptions{Stdin: pr, Stdout: out, Stderr: out})
		}()
		// The attach may not be there yet when the first line goes: send
		// until the answer comes.
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
	send:
		for {
			select {
			case <-out.seen:
				break send
			case err := <-done:
				t.Fatalf("attach ended early: %v; output %q", err, out.String())
			case <-actx.Done():
				t.Fatalf("no answer through attach; output %q", out.String())
			case <-tick.C:
				go io.WriteString(pw, "ping\n")
			}
		}
		cancel() // the client goes: a detach
		pw.Close()
		<-done
		// The process still runs, and answers the next attach.
		ex = kubectlExecutor(t, cfg, podSubURL(cfg, pod, "attach", q))
		actx2, cancel2 := context.WithTimeout(ctx(t), 30*time.Second)
		defer cancel2()
		out2 := &watchWriter{want: "got-again", seen: make(chan struct{})}
		pr2, pw2 := io.Pipe()
		defer pw2.Close()
		go func() {
			for actx2.Err() == nil {
				io.WriteString(pw2, "again\n")
				time.Sleep(300 * time.Millisecond)
			}
		}()
		go func() {
			_ = ex.StreamWithContext(actx2, remotecommand.StreamOptions{Stdin: pr2, Stdout: out2, Stderr: out2})
		}()
		select {
		case <-out2.seen:
		case <-actx2.Done():
			t.Fatalf("the second attach got no answer: %q", out2.String())
		}
	})

	t.Run("port-forward carries HTTP to the pod's server", func(t *testing.T) {
		u := podSubURL(cfg, pod, "portforward", nil)
		tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
		if err != nil {
			t.Fatal(err)
		}
		transport, upgrader, err := spdy.RoundTripperFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		plain := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
		kubectl := portforward.NewFallbackDialer(tunnel, plain, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		for name, dialer := range map[string]httpstream.Dialer{"kubectl (websocket first)": kubectl, "spdy upgrade": plain} {
			t.Run(name, func(t *testing.T) {
				stop, ready := make(chan struct{}), make(chan struct{})
				fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- fw.ForwardPorts() }()
				select {
				case <-ready:
				case err := <-done:
					t.Fatalf("port-forward ended: %v", err)
				case <-time.After(30 * time.Second):
					t.Fatal("port-forward not ready")
				}
				ports, err := fw.GetPorts()
				if err != nil {
					t.Fatal(err)
				}
				hc := &http.Client{Timeout: 10 * time.Second}
				for range 3 {
					resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", ports[0].Local))
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if strings.TrimSpace(string(b)) != pod {
						t.Fatalf("GET /hostname through the forward: %d %q", resp.StatusCode, b)
					}
				}
				close(stop)
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Fatal("port-forward did not stop")
				}
			})
		}
	})

	t.Run("a viewer may not exec, attach or port-forward", func(t *testing.T) {
		viewer := rest.CopyConfig(cfg)
		viewer.BearerToken = strings.TrimSpace(a.shoal("token", "create", "looker", "--role", "view"))
		for _, sub := range []string{"exec", "attach"} {
			q := execQuery("app", false, false, "true")
			if sub == "attach" {
				q.Del("command")
			}
			ex := kubectlExecutor(t, viewer, podSubURL(viewer, pod, sub, q))
			err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
			if err == nil || !strings.Contains(err.Error(), "pods/"+sub) {
				t.Errorf("%s as a viewer: %v, want a refusal naming pods/%s", sub, err, sub)
			}
		}
		tunnel, err := portforward.NewSPDYOverWebsocketDialer(podSubURL(viewer, pod, "portforward", nil), viewer)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tunnel.Dial("portforward.k8s.io"); err == nil || !strings.Contains(err.Error(), "403") && !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("port-forward as a viewer: %v, want 403", err)
		}
	})

	t.Run("kubectl cp's tar streams", func(t *testing.T) {
		// kubectl cp POD:/etc/passwd runs `tar cf - /etc/passwd`.
		ex := kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", false, false, "tar", "cf", "-", "/etc/passwd")))
		var out, errOut bytes.Buffer
		if err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
			t.Fatalf("tar cf: %v: %s (the test image has tar since its layout 2: build it again with scripts/build-images)", err, errOut.String())
		}
		tr := tar.NewReader(&out)
		h, err := tr.Next()
		if err != nil || h.Name != "etc/passwd" {
			t.Fatalf("tar from the pod: %v, first entry %+v", err, h)
		}
		if b, _ := io.ReadAll(tr); !strings.HasPrefix(string(b), "root:x:0:0") {
			t.Fatalf("etc/passwd from the pod: %q", b)
		}
		// kubectl cp FILE POD:/tmp/ runs `tar -xmf - -C /tmp`.
		var in bytes.Buffer
		tw := tar.NewWriter(&in)
		body := "copied into the pod\n"
		tw.WriteHeader(&tar.Header{Name: "up/hello.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
		tw.Close()
		ex = kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", true, false, "tar", "-xmf", "-", "-C", "/tmp")))
		errOut.Reset()
		if err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: &in, Stdout: io.Discard, Stderr: &errOut}); err != nil {
			t.Fatalf("tar xmf: %v: %s", err, errOut.String())
		}
		ex = kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", false, false, "cat", "/tmp/up/hello.txt")))
		out.Reset()
		if err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: &out, Stderr: io.Discard}); err != nil || out.String() != body {
			t.Fatalf("the copied file: %v, %q", err, out.String())
		}
	})

	t.Run("the installed kubectl", func(t *testing.T) {
		out, err := a.kubectl(t, "from kubectl\n", "exec", "-i", pod, "-c", "app", "--", "sh", "-c", "cat; exit 3")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.HasPrefix(out, "from kubectl\n") {
			t.Errorf("kubectl exec -i: %v, output %q; want exit code 3 and the input back", err, out)
		}
		if out, err := a.kubectl(t, "", "logs", pod, "-c", "ticker", "--tail=2"); err != nil || len(lines(out)) != 2 {
			t.Errorf("kubectl logs --tail=2: %v, %q", err, out)
		}
		// kubectl cp into the pod and back.
		dir := t.TempDir()
		src, back := filepath.Join(dir, "src.txt"), filepath.Join(dir, "back.txt")
		if err := os.WriteFile(src, []byte("copied by kubectl\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := a.kubectl(t, "", "cp", src, pod+":/tmp/src.txt", "-c", "app"); err != nil {
			t.Fatalf("kubectl cp into the pod: %v: %s", err, out)
		}
		if out, err := a.kubectl(t, "", "cp", pod+":/tmp/src.txt", back, "-c", "app"); err != nil {
			t.Fatalf("kubectl cp out of the pod: %v: %s", err, out)
		}
		if b, err := os.ReadFile(back); err != nil || string(b) != "copied by kubectl\n" {
			t.Fatalf("the file copied in and out: %q, %v", b, err)
		}
		// kubectl port-forward on a port it picks.
		bin, _ := exec.LookPath("kubectl")
		cmd := exec.Command(bin, "--kubeconfig", a.kubeconfig(), "--cache-dir", t.TempDir(), "port-forward", "--address", "127.0.0.1", "pod/"+pod, ":8080")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		port := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			re := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					port <- m[1]
				}
			}
		}()
		select {
		case p := <-port:
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + p + "/hostname")
			if err != nil {
				t.Fatalf("GET through kubectl port-forward: %v; kubectl: %s", err, errOut.String())
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) != pod {
				t.Fatalf("GET /hostname through kubectl port-forward: %q", b)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("kubectl port-forward did not start: %s", errOut.String())
		}
	})

	t.Run("log options", func(t *testing.T) {
		hc := a.httpClient(t, "")
		logs := func(q string) string {
			t.Helper()
			resp, err := hc.Get(a.url() + "/api/v1/namespaces/default/pods/" + pod + "/log?container=ticker&" + q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("log?%s: %d %s", q, resp.StatusCode, b)
			}
			return string(b)
		}
		// Let the ticker write for a few seconds.
		time.Sleep(3 * time.Second)
		all := lines(logs(""))
		if len(all) < 20 {
			t.Fatalf("only %d lines logged", len(all))
		}
		if got := lines(logs("tailLines=3")); len(got) != 3 {
			t.Errorf("tailLines=3: %q", got)
		}
		if got := logs("limitBytes=10"); len(got) != 10 || !strings.HasPrefix(got, "tick-0\n") {
			t.Errorf("limitBytes=10: %q", got)
		}
		stamped := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z tick-\d+$`)
		for _, l := range lines(logs("timestamps=true&tailLines=2")) {
			if !stamped.MatchString(l) {
				t.Errorf("timestamps=true: line %q", l)
			}
		}
		recent := lines(logs("sinceSeconds=1"))
		if len(recent) == 0 || len(recent) >= len(all) {
			t.Errorf("sinceSeconds=1: %d lines of %d", len(recent), len(all))
		}
		if got := logs("sinceTime=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); got != "" {
			t.Errorf("sinceTime in the future: %q", got)
		}
		// A followed log ends at its byte limit.
		start := time.Now()
		if got := logs("follow=true&limitBytes=200"); len(got) != 200 || time.Since(start) > 20*time.Second {
			t.Errorf("follow with limitBytes=200: %d bytes after %v", len(got), time.Since(start))
		}
		// Followed lines keep coming.
		resp, err := hc.Get(a.url() + "/api/v1/namespaces/default/pods/" + pod + "/log?container=ticker&follow=true&tailLines=0")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for range 5 {
			if !sc.Scan() {
				t.Fatalf("follow ended: %v", sc.Err())
			}
		}
		resp.Body.Close()
	})
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// termSizes gives its sizes, then nil, which ends the client's resizing.
type termSizes []remotecommand.TerminalSize

func (q *termSizes) Next() *remotecommand.TerminalSize {
	if len(*q) == 0 {
		return nil
	}
	sz := (*q)[0]
	*q = (*q)[1:]
	return &sz
}

// watchWriter collects output and closes seen once want has appeared.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
