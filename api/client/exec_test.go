package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func TestExecStdinStdoutStderrExitCode(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newPod("default", "web", nil))
	var seen clienttest.ExecRequest
	srv.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) {
		seen = r
		in, err := io.ReadAll(r.Stdin) // ends only when the client closes stdin
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(r.Stdout, "got %q", in)
		fmt.Fprint(r.Stderr, "oops")
		return 3, nil
	}
	var stdout, stderr bytes.Buffer
	opts := api.ExecOptions{Container: "app", Command: []string{"sh", "-c", "cat; exit 3"}, Stdin: true, Stdout: true, Stderr: true}
	code, err := c.Exec(ctxT(t), "default", "web", opts, strings.NewReader("hello"), &stdout, &stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if stdout.String() != `got "hello"` || stderr.String() != "oops" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if strings.Join(seen.Command, " ") != "sh -c cat; exit 3" || seen.Container != "app" {
		t.Fatalf("server saw %+v", seen)
	}
	q := lastRequest(t, srv).Query
	if q.Get("stdin") != "true" || q.Get("stdout") != "true" || q.Get("stderr") != "true" || q.Get("tty") != "" {
		t.Fatalf("exec query %v", q)
	}
}

func TestExecSuccessAndResize(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newPod("default", "web", nil))
	srv.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) {
		select {
		case size := <-r.Resize:
			fmt.Fprintf(r.Stdout, "%dx%d", size.Width, size.Height)
		case <-time.After(5 * time.Second):
			return 1, nil
		}
		return 0, nil
	}
	resize := make(chan api.TerminalSize, 1)
	resize <- api.TerminalSize{Width: 120, Height: 40}
	var out bytes.Buffer
	code, err := c.Exec(ctxT(t), "default", "web", api.ExecOptions{Command: []string{"sh"}, Stdout: true, TTY: true},
		nil, &out, nil, resize)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if out.String() != "120x40" {
		t.Fatalf("stdout %q, want the resize echoed", out.String())
	}
}

func TestExecFailures(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newPod("default", "web", nil))
	opts := api.ExecOptions{Command: []string{"x"}, Stdout: true}
	if _, err := c.Exec(ctxT(t), "default", "gone", opts, nil, nil, nil, nil); !api.IsNotFound(err) {
		t.Fatalf("missing pod: err = %v, want NotFound", err)
	}
	srv.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) {
		return 0, errors.New(`container "x" not found in pod`)
	}
	_, err := c.Exec(ctxT(t), "default", "web", opts, nil, nil, nil, nil)
	var se *api.StatusError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), `container "x" not found`) {
		t.Fatalf("err = %#v", err)
	}
	if _, err := c.Exec(ctxT(t), "default", "web", api.ExecOptions{}, nil, nil, nil, nil); err == nil {
		t.Fatal("an exec without a command must fail")
	}
}

// A server that never sends a status and never ends: cancelling the context
// must end Exec.
func TestExecStopsWithContext(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{api.ExecProtocol}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Exec(ctx, "default", "web", api.ExecOptions{Command: []string{"sleep"}}, nil, nil, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

// The raw protocol: the stdin close is the two bytes 255, 0 and output
// channels are the first byte of each message.
func TestExecWireFormat(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{api.ExecProtocol}}
	got := make(chan [][]byte, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var msgs [][]byte
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			msgs = append(msgs, data)
			if len(data) == 2 && data[0] == 255 {
				break
			}
		}
		got <- msgs
		_ = conn.WriteMessage(websocket.BinaryMessage, append([]byte{1}, "out"...))
		_ = conn.WriteMessage(websocket.BinaryMessage, []byte(`{"status":"Failure","reason":"NonZeroExitCode","message":"command terminated with non-zero exit code: 2","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}`))
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, "")
	var out bytes.Buffer
	code, err := c.Exec(ctxT(t), "default", "web", api.ExecOptions{Command: []string{"cat"}, Stdin: true, Stdout: true},
		strings.NewReader("ab"), &out, nil, nil)
	msgs := <-got
	if len(msgs) != 2 || string(msgs[0]) != "\x00ab" || !bytes.Equal(msgs[1], []byte{255, 0}) {
		t.Fatalf("client sent %q", msgs)
	}
	// The last message lacks the channel byte 3 on purpose: it is read as
	// channel '{', which is ignored, and the stream then ends abnormally.
	if err == nil {
		t.Fatalf("a stream without a status must fail, got code %d", code)
	}
	if out.String() != "out" {
		t.Fatalf("stdout %q", out.String())
	}
}

// Over HTTPS with HTTP/2 (as the agent serves it), the client's transport
// offers h2 by ALPN once it has made a request; the exec websocket must
// still ask for HTTP/1.1, the only protocol a websocket upgrade runs on.
func TestExecOverHTTPSAfterAnHTTP2Request(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(newPod("default", "web", nil))
	srv.Exec = func(ctx context.Context, r clienttest.ExecRequest) (int, error) {
		fmt.Fprint(r.Stdout, "hi")
		return 0, nil
	}
	tlsSrv := httptest.NewUnstartedServer(srv.Config.Handler)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	c, err := client.New(tlsSrv.URL, srv.Token, client.WithTLSConfig(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.List(ctxT(t), api.KindPod, "default", api.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	opts := api.ExecOptions{Container: "app", Command: []string{"true"}, Stdout: true}
	if code, err := c.Exec(ctxT(t), "default", "web", opts, nil, &stdout, io.Discard, nil); err != nil || code != 0 {
		t.Fatalf("exec after an HTTP/2 request: code %d, %v", code, err)
	}
	if stdout.String() != "hi" {
		t.Fatalf("stdout %q", stdout.String())
	}
}
