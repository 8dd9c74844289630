package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

// streamIO is a pod's node for exec, attach and port-forward: exec
// uppercases stdin to stdout, says "err" on stderr and exits with the
// command's first argument as code; attach echoes stdin; DialPod connects
// to dialAddr.
type streamIO struct {
	dialAddr string
	mu       sync.Mutex
	logOpts  []api.LogOptions
	sizes    []api.TerminalSize
}

func (f *streamIO) Locate(context.Context, string, string) (*server.Target, error) { return nil, nil }

func (f *streamIO) Logs(_ context.Context, _, _ string, opts api.LogOptions, w io.Writer) error {
	f.mu.Lock()
	f.logOpts = append(f.logOpts, opts)
	f.mu.Unlock()
	_, err := io.WriteString(w, "line\n")
	return err
}

func (f *streamIO) Exec(ctx context.Context, _, _ string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
	if opts.TTY {
		// Report the first size, then end.
		select {
		case sz := <-resize:
			fmt.Fprintf(stdout, "size %dx%d", sz.Width, sz.Height)
			return 0, nil
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	if stdin != nil {
		// Needs the end of stdin: v5's close message.
		b, err := io.ReadAll(stdin)
		if err != nil {
			return -1, err
		}
		stdout.Write(bytes.ToUpper(b))
	}
	if stderr != nil {
		io.WriteString(stderr, "err")
	}
	var code int
	fmt.Sscan(opts.Command[0], &code)
	return code, nil
}

func (f *streamIO) Attach(ctx context.Context, _, _ string, opts api.ExecOptions, stdin io.Reader, stdout, _ io.Writer, _ <-chan api.TerminalSize) error {
	io.WriteString(stdout, "attached:"+opts.Container+"\n")
	if stdin != nil {
		_, err := io.Copy(stdout, stdin)
		return err
	}
	return nil
}

func (f *streamIO) DialPod(ctx context.Context, _, _ string, port uint16) (net.Conn, error) {
	if port != 80 {
		return nil, fmt.Errorf("connection refused on port %d", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.dialAddr)
}

// streamServer serves a pod p in default from a streamIO, and returns the
// client-go config that reaches it.
func streamServer(t *testing.T) (*rest.Config, *streamIO) {
	t.Helper()
	pio := &streamIO{}
	ts, objs := limitedServer(t, func(c *server.Config) { c.PodIO = pio })
	if _, err := objs.Create(context.Background(), &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "i"}}}}); err != nil {
		t.Fatal(err)
	}
	return &rest.Config{Host: ts.URL}, pio
}

func podURL(cfg *rest.Config, sub string, q url.Values) *url.URL {
	u, _ := url.Parse(cfg.Host + "/api/v1/namespaces/default/pods/p/" + sub)
	u.RawQuery = q.Encode()
	return u
}

// TestExecWithClientGo runs exec as kubectl 1.32 does: websocket
// v5.channel.k8s.io, stdin ended with the close message, the exit code read
// from the Status on the error channel.
func TestExecWithClientGo(t *testing.T) {
	cfg, _ := streamServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := url.Values{"command": {"3", "ignored"}, "container": {"c"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}}
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", podURL(cfg, "exec", q).String())
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello"), Stdout: &stdout, Stderr: &stderr})
	var ce utilexec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 3 {
		t.Fatalf("exec: %v (%T), want exit code 3", err, err)
	}
	if stdout.String() != "HELLO" || stderr.String() != "err" {
		t.Fatalf("stdout %q, stderr %q; want HELLO and err", stdout.String(), stderr.String())
	}

	t.Run("exit code 0 is success", func(t *testing.T) {
		q := url.Values{"command": {"0"}, "stdout": {"true"}}
		ex, _ := remotecommand.NewWebSocketExecutor(cfg, "GET", podURL(cfg, "exec", q).String())
		if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a terminal gets its size", func(t *testing.T) {
		q := url.Values{"command": {"sh"}, "stdin": {"true"}, "stdout": {"true"}, "tty": {"true"}}
		ex, _ := remotecommand.NewWebSocketExecutor(cfg, "GET", podURL(cfg, "exec", q).String())
		var out bytes.Buffer
		pr, pw := io.Pipe()
		defer pw.Close()
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: pr, Stdout: &out, Tty: true,
			TerminalSizeQueue: &sizeQueue{{Width: 120, Height: 40}}})
		if err != nil || out.String() != "size 120x40" {
			t.Fatalf("tty exec: %v, output %q", err, out.String())
		}
	})
	t.Run("the fallback executor kubectl builds picks the websocket", func(t *testing.T) {
		q := url.Values{"command": {"0"}, "stdin": {"true"}, "stdout": {"true"}}
		ws, _ := remotecommand.NewWebSocketExecutor(cfg, "GET", podURL(cfg, "exec", q).String())
		sp, err := remotecommand.NewSPDYExecutor(cfg, "POST", podURL(cfg, "exec", q))
		if err != nil {
			t.Fatal(err)
		}
		ex, _ := remotecommand.NewFallbackExecutor(ws, sp, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		var out bytes.Buffer
		if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("abc"), Stdout: &out}); err != nil || out.String() != "ABC" {
			t.Fatalf("fallback exec: %v, output %q", err, out.String())
		}
	})
	t.Run("over SPDY, kubectl's fallback", func(t *testing.T) {
		q := url.Values{"command": {"7"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}}
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", podURL(cfg, "exec", q))
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("spdy"), Stdout: &out, Stderr: &errOut})
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 7 || out.String() != "SPDY" || errOut.String() != "err" {
			t.Fatalf("SPDY exec: %v, stdout %q, stderr %q; want exit code 7, SPDY, err", err, out.String(), errOut.String())
		}
		// 3 MiB of stdin: kubectl's frames stay under the frame limit.
		big := strings.Repeat("abcdefgh", 3<<17)
		ex, _ = remotecommand.NewSPDYExecutor(cfg, "POST", podURL(cfg, "exec", url.Values{"command": {"0"}, "stdin": {"true"}, "stdout": {"true"}}))
		out.Reset()
		if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(big), Stdout: &out}); err != nil || out.String() != strings.ToUpper(big) {
			t.Fatalf("SPDY exec of 3 MiB: %v, %d bytes back", err, out.Len())
		}
		q = url.Values{"command": {"sh"}, "stdin": {"true"}, "stdout": {"true"}, "tty": {"true"}}
		ex, _ = remotecommand.NewSPDYExecutor(cfg, "POST", podURL(cfg, "exec", q))
		out.Reset()
		pr, pw := io.Pipe()
		defer pw.Close()
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: pr, Stdout: &out, Tty: true,
			TerminalSizeQueue: &sizeQueue{{Width: 90, Height: 30}}})
		if err != nil || out.String() != "size 90x30" {
			t.Fatalf("SPDY tty exec: %v, output %q", err, out.String())
		}
	})
	t.Run("bad stream flags are refused", func(t *testing.T) {
		q := url.Values{"command": {"0"}, "stdin": {"yes"}}
		ex, _ := remotecommand.NewWebSocketExecutor(cfg, "GET", podURL(cfg, "exec", q).String())
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), "stdin") {
			t.Fatalf("stdin=yes: %v, want an error naming stdin", err)
		}
	})
}

// sizeQueue gives its sizes, then nil, which ends the client's resizing.
type sizeQueue []remotecommand.TerminalSize

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	if len(*q) == 0 {
		return nil
	}
	sz := (*q)[0]
	*q = (*q)[1:]
	return &sz
}

// TestAttachWithClientGo attaches as kubectl attach does.
func TestAttachWithClientGo(t *testing.T) {
	cfg, _ := streamServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := url.Values{"container": {"c"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}}
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "POST", podURL(cfg, "attach", q).String())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("typed"), Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "attached:c\ntyped" {
		t.Fatalf("attach output %q", out.String())
	}
	q.Set("command", "sh")
	ex, _ = remotecommand.NewWebSocketExecutor(cfg, "POST", podURL(cfg, "attach", q).String())
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard}); err == nil || !strings.Contains(err.Error(), "command") {
		t.Fatalf("attach with a command: %v, want an error naming command", err)
	}
}

// TestPortForwardWithClientGo forwards a local port to the pod as kubectl
// 1.32 does (SPDY tunnelled through a websocket), and as older kubectl and
// kubectl's fallback do (an upgrade to SPDY).
func TestPortForwardWithClientGo(t *testing.T) {
	cfg, pio := streamServer(t)
	// The pod's server: answers each line with "echo: <line>".
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				fmt.Fprintf(c, "echo: %s", b)
			}()
		}
	}()
	pio.dialAddr = l.Addr().String()

	u := podURL(cfg, "portforward", nil)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	for name, dialer := range map[string]httpstream.Dialer{"websocket": tunnel, "spdy": plain} {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			var errOut bytes.Buffer
			fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:80"}, stop, ready, io.Discard, &errOut)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("port-forward ended before it was ready: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("port-forward not ready")
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			// 3 MiB through: kubectl's frames stay under the frame limit.
			big := strings.Repeat("0123456789abcdef", 3<<16)
			if got := roundTrip(t, ports[0].Local, big); got != "echo: "+big {
				t.Fatalf("3 MiB through the forward: %d bytes back", len(got))
			}
			// Two connections one after the other over the same session.
			for i := range 2 {
				got := roundTrip(t, ports[0].Local, fmt.Sprintf("hello %d", i))
				if got != fmt.Sprintf("echo: hello %d", i) {
					t.Fatalf("through the forward: %q", got)
				}
			}
			close(stop)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("port-forward ended with %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("port-forward did not stop")
			}
		})
	}

	t.Run("a refused port is reported on the error stream", func(t *testing.T) {
		// client-go ends the whole session on such an error, as kubectl
		// port-forward does ("lost connection to pod").
		var errOut bytes.Buffer
		ready := make(chan struct{})
		fw, err := portforward.NewOnAddresses(tunnel, []string{"127.0.0.1"}, []string{"0:81"}, make(chan struct{}), ready, io.Discard, &errOut)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- fw.ForwardPorts() }()
		<-ready
		ports, _ := fw.GetPorts()
		if got := roundTrip(t, ports[0].Local, "x"); got != "" {
			t.Fatalf("a refused port answered %q", got)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the session went on after an error on the error stream")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("port-forward did not end after the error")
		}
	})

	t.Run("a plain GET is refused with a Status", func(t *testing.T) {
		resp, body := send(t, "GET", u.String(), "", nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "SPDY/3.1+portforward.k8s.io") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// roundTrip sends msg to a local port, half-closes, and reads the answer.
func roundTrip(t *testing.T, port uint16, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(c, msg)
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading through the forward: %v", err)
	}
	return string(b)
}

// TestLogOptionsAsKubectlSendsThem checks the query parameters of
// kubectl logs are read, and bad ones refused.
func TestLogOptionsAsKubectlSendsThem(t *testing.T) {
	cfg, pio := streamServer(t)
	get := func(q string) (int, string) {
		resp, body := send(t, "GET", cfg.Host+"/api/v1/namespaces/default/pods/p/log?"+q, "", nil)
		return resp.StatusCode, string(body)
	}
	before := time.Now().Add(-61 * time.Second)
	if code, body := get("container=c&follow=true&previous=true&timestamps=true&tailLines=5&sinceSeconds=60&limitBytes=100"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	pio.mu.Lock()
	o := pio.logOpts[len(pio.logOpts)-1]
	pio.mu.Unlock()
	if o.Container != "c" || !o.Follow || !o.Previous || !o.Timestamps || o.TailLines == nil || *o.TailLines != 5 ||
		o.LimitBytes == nil || *o.LimitBytes != 100 || o.SinceTime == nil || o.SinceTime.Time.Before(before) {
		t.Fatalf("options read: %+v", o)
	}
	for _, c := range []struct{ q, field string }{
		{"sinceSeconds=0", "sinceSeconds"},
		{"sinceSeconds=x", "sinceSeconds"},
		{"sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z", "at most one"},
		{"limitBytes=0", "limitBytes"},
		{"tailLines=-1", "tailLines"},
		{"follow=maybe", "follow"},
	} {
		if code, body := get(c.q); code != http.StatusBadRequest || !strings.Contains(body, c.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.q, code, body, c.field)
		}
	}
}

// TestAttachAndPortForwardRefuseOtherOrigins: a web page elsewhere must not
// reach into pods through the browser's websockets.
func TestAttachAndPortForwardRefuseOtherOrigins(t *testing.T) {
	cfg, _ := streamServer(t)
	ws := "ws" + strings.TrimPrefix(cfg.Host, "http")
	for _, c := range []struct{ path, protocol string }{
		{"/attach?stdout=true", api.ExecProtocolV5},
		{"/portforward", api.PortForwardTunnelProtocol},
	} {
		u := ws + "/api/v1/namespaces/default/pods/p" + c.path
		_, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {"http://attacker.example"}, "Sec-WebSocket-Protocol": {c.protocol}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s from another origin: %v %+v", c.path, err, resp)
		}
		// The same request without a foreign Origin is upgraded.
		conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Sec-WebSocket-Protocol": {c.protocol}})
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if conn.Subprotocol() != c.protocol {
			t.Fatalf("%s: sub-protocol %q, want %q", c.path, conn.Subprotocol(), c.protocol)
		}
		conn.Close()
	}
}
