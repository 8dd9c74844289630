package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// fakePodIO serves logs and exec from functions, here or (target) forwarded.
type fakePodIO struct {
	target *url.URL
	logs   func(ctx context.Context, w io.Writer) error
	exec   func(ctx context.Context, stdin io.Reader, stdout io.Writer) (int, error)
}

func (f *fakePodIO) Locate(context.Context, string, string) (*server.Target, error) {
	if f.target == nil {
		return nil, nil
	}
	return &server.Target{URL: f.target}, nil
}

func (f *fakePodIO) Logs(ctx context.Context, _, _ string, _ api.LogOptions, w io.Writer) error {
	return f.logs(ctx, w)
}

func (f *fakePodIO) Exec(ctx context.Context, _, _ string, _ api.ExecOptions, stdin io.Reader, stdout, _ io.Writer, _ <-chan api.TerminalSize) (int, error) {
	return f.exec(ctx, stdin, stdout)
}

// clientHeader lets a test play several clients from one address.
const clientHeader = "X-Test-Client"

func limitedServer(t *testing.T, edit func(*server.Config)) (*httptest.Server, *registry.Registry) {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	if _, err := objs.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: objs, MaxBodyBytes: 64 << 10, AllowedHosts: []string{"agent.example"},
		ClientKey: func(r *http.Request) string {
			if c := r.Header.Get(clientHeader); c != "" {
				return c
			}
			return server.RemoteIP(r)
		}}
	if edit != nil {
		edit(&cfg)
	}
	ts := httptest.NewUnstartedServer(server.New(cfg))
	ts.Config = server.NewHTTPServer(ts.Config.Handler)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, objs
}

// send makes one request with the given headers (Host included).
func send(t *testing.T, method, url, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

const cmJSON = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"data":{"a":"b"}}`
const cmYAML = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {a: b}\n"

func TestWritesNeedAContentTypeShoalAccepts(t *testing.T) {
	ts, objs := limitedServer(t, nil)
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"
	refused := []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/xml", "application/octet-stream", "garbage;;"}
	for i, ct := range refused {
		name := fmt.Sprintf("refused-%d", i)
		for _, c := range []struct{ method, url, body string }{
			{"POST", coll, fmt.Sprintf(cmJSON, name)},
			{"PUT", coll + "/" + name, fmt.Sprintf(cmJSON, name)},
			{"PATCH", coll + "/" + name, `{"data":{"a":"c"}}`},
			{"POST", ts.URL + "/shoal/v1/apply", fmt.Sprintf(cmYAML, name)},
		} {
			resp, b := send(t, c.method, c.url, c.body, hdr("Content-Type", ct))
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Fatalf("%s %s with %q: %d %s", c.method, c.url, ct, resp.StatusCode, b)
			}
			if s := status(t, b); s.Reason != api.ReasonUnsupportedType || !strings.Contains(s.Message, "application/") {
				t.Fatalf("%s with %q: %+v does not name the accepted types", c.method, ct, s)
			}
		}
	}
	if list, _, _ := objs.List(context.Background(), api.KindConfigMap, "", nil); len(list) != 0 {
		t.Fatalf("refused writes stored %d objects", len(list))
	}
	// Patch types are for PATCH only, object types for POST and PUT only.
	for _, c := range []struct{ method, url, ct string }{
		{"POST", coll, "application/merge-patch+json"},
		{"PATCH", coll + "/x", "application/json"},
		{"PATCH", coll + "/x", "application/apply-patch+cbor"},
	} {
		if resp, b := send(t, c.method, c.url, "{}", hdr("Content-Type", c.ct)); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("%s with %q: %d %s", c.method, c.ct, resp.StatusCode, b)
		}
	}

	// Every type a real client sends works: the Go client and CLI
	// (application/json, application/merge-patch+json, application/yaml for
	// apply), kubectl (strategic merge patch), curl with YAML.
	for i, ct := range []string{"application/json", "application/json; charset=utf-8", "application/yaml", "application/x-yaml", "text/yaml"} {
		name := fmt.Sprintf("ok-%d", i)
		body := fmt.Sprintf(cmJSON, name)
		if strings.Contains(ct, "yaml") {
			body = fmt.Sprintf(cmYAML, name)
		}
		if resp, b := send(t, "POST", coll, body, hdr("Content-Type", ct)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create with %q: %d %s", ct, resp.StatusCode, b)
		}
		if resp, b := send(t, "PUT", coll+"/"+name, body, hdr("Content-Type", ct)); resp.StatusCode != http.StatusOK {
			t.Fatalf("replace with %q: %d %s", ct, resp.StatusCode, b)
		}
	}
	for _, ct := range []string{"application/merge-patch+json", "application/strategic-merge-patch+json"} {
		if resp, b := send(t, "PATCH", coll+"/ok-0", `{"data":{"a":"patched"}}`, hdr("Content-Type", ct)); resp.StatusCode != http.StatusOK {
			t.Fatalf("patch with %q: %d %s", ct, resp.StatusCode, b)
		}
	}
	for i, ct := range []string{"application/yaml", "application/json", "text/yaml"} {
		body := fmt.Sprintf(cmYAML, fmt.Sprintf("apply-%d", i))
		if ct == "application/json" {
			body = fmt.Sprintf(cmJSON, fmt.Sprintf("apply-%d", i))
		}
		if resp, b := send(t, "POST", ts.URL+"/shoal/v1/apply", body, hdr("Content-Type", ct)); resp.StatusCode != http.StatusOK {
			t.Fatalf("apply with %q: %d %s", ct, resp.StatusCode, b)
		}
	}
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Create(ctx, api.KindConfigMap, "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "go-client"}}); err != nil {
		t.Fatalf("Go client create: %v", err)
	}
	if _, err := c.Patch(ctx, api.KindConfigMap, "default", "go-client", []byte(`{"data":{"x":"y"}}`)); err != nil {
		t.Fatalf("Go client patch: %v", err)
	}
	if _, err := c.Apply(ctx, "default", []byte(fmt.Sprintf(cmYAML, "go-apply")), false); err != nil {
		t.Fatalf("Go client apply: %v", err)
	}
	// Deletes and reads need no Content-Type.
	if resp, b := send(t, "DELETE", coll+"/ok-1", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
}

func TestExtraRoutesRefuseWhatABrowserSendsUnasked(t *testing.T) {
	ts, _ := limitedServer(t, func(c *server.Config) {
		c.Extra = []server.Route{{Method: http.MethodPost, Path: "/shoal/v1/internal/thing",
			Handler: func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "done") }}}
	})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"} {
		if resp, b := send(t, "POST", ts.URL+"/shoal/v1/internal/thing", "x", hdr("Content-Type", ct)); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("%q: %d %s", ct, resp.StatusCode, b)
		}
	}
	if resp, b := send(t, "POST", ts.URL+"/shoal/v1/internal/thing", "x", hdr("Content-Type", "application/octet-stream")); resp.StatusCode != 200 || string(b) != "done" {
		t.Fatalf("octet-stream: %d %s", resp.StatusCode, b)
	}
}

func TestHostMustBeAnAddressOrANameOfTheAgent(t *testing.T) {
	ts, _ := limitedServer(t, nil)
	port := ts.URL[strings.LastIndex(ts.URL, ":"):]
	for _, host := range []string{"127.0.0.1" + port, "[::1]" + port, "10.1.2.3", "localhost" + port, "LOCALHOST",
		"agent.example" + port, "Agent.Example.", ""} {
		resp, b := send(t, "GET", ts.URL+"/api/v1/namespaces", "", hdr("Host", host))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Host %q: %d %s", host, resp.StatusCode, b)
		}
	}
	for _, host := range []string{"attacker.example" + port, "agent.example.attacker.example", "localhost.attacker.example", "2130706433"} {
		for _, m := range []string{"GET", "POST"} {
			resp, b := send(t, m, ts.URL+"/api/v1/namespaces/default/configmaps", fmt.Sprintf(cmJSON, "x"), hdr("Host", host, "Content-Type", "application/json"))
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Fatalf("%s with Host %q: %d %s", m, host, resp.StatusCode, b)
			}
			s := status(t, b)
			if s.Reason != api.ReasonMisdirected || !strings.Contains(s.Message, "--api-allowed-hosts") || !strings.Contains(s.Message, "agent.example") {
				t.Fatalf("Host %q: %+v does not say which names pass and how to add one", host, s)
			}
		}
	}
}

func TestUnixSocketRequestsNeedNoHostName(t *testing.T) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := server.NewHTTPServer(server.New(server.Config{Store: registry.New(st)}))
	go hs.Serve(l)
	defer hs.Close()
	c, err := client.New("unix://"+sock, "") // sends Host: unix
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatalf("over the unix socket: %v", err)
	}
	defer os.Remove(sock)
}

func TestNewHTTPServerBoundsConnections(t *testing.T) {
	hs := server.NewHTTPServer(http.NotFoundHandler())
	if hs.ReadHeaderTimeout <= 0 || hs.IdleTimeout <= 0 || hs.MaxHeaderBytes <= 0 || hs.MaxHeaderBytes > 1<<20 {
		t.Fatalf("%+v", hs)
	}
	if hs.WriteTimeout != 0 || hs.ReadTimeout != 0 {
		t.Fatal("a server-wide read or write timeout would cut watches, logs and exec")
	}
}

// openWatch opens a watch as client and returns the response (nil body on
// refusal, with the Status read).
func openWatch(t *testing.T, ctx context.Context, base, who string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/namespaces/default/configmaps?watch=true", nil)
	req.Header.Set(clientHeader, who)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, nil
}

func TestWatchesAreBoundedPerClientAndInAll(t *testing.T) {
	ts, _ := limitedServer(t, func(c *server.Config) {
		c.Limits = server.Limits{MaxWatchesPerClient: 2, MaxWatches: 3}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 2; i++ {
		if resp, b := openWatch(t, ctx, ts.URL, "alice"); resp.StatusCode != 200 {
			t.Fatalf("watch %d: %d %s", i, resp.StatusCode, b)
		}
	}
	resp, b := openWatch(t, ctx, ts.URL, "alice")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third watch of one client: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if s := status(t, b); s.Reason != api.ReasonTooManyRequests || !strings.Contains(s.Message, "this client") || s.Details == nil || s.Details.RetryAfterSeconds == 0 {
		t.Fatalf("%+v", s)
	}
	bob, _ := openWatch(t, ctx, ts.URL, "bob")
	if bob.StatusCode != 200 {
		t.Fatalf("another client: %d", bob.StatusCode)
	}
	resp, b = openWatch(t, ctx, ts.URL, "carol")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(status(t, b).Message, "this agent serves 3") {
		t.Fatalf("over the total: %d %s", resp.StatusCode, b)
	}
	// A closed watch gives its place back.
	bob.Body.Close()
	poll.Cond(t, 20*time.Second, "condition", func() bool {
		resp, _ := openWatch(t, ctx, ts.URL, "carol")
		return resp.StatusCode == 200
	})
}

func TestStreamsAreBoundedPerClientAndInAll(t *testing.T) {
	var open atomic.Int32
	pio := &fakePodIO{logs: func(ctx context.Context, w io.Writer) error {
		open.Add(1)
		defer open.Add(-1)
		io.WriteString(w, "hello\n")
		<-ctx.Done()
		return nil
	}}
	ts, objs := limitedServer(t, func(c *server.Config) {
		c.Limits = server.Limits{MaxStreamsPerClient: 1, MaxStreams: 2}
		c.PodIO = pio
	})
	objs.Create(context.Background(), &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "i"}}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := func(who string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/namespaces/default/pods/p/log?follow=true", nil)
		req.Header.Set(clientHeader, who)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := logs("alice"); r.StatusCode != 200 {
		t.Fatalf("first stream: %d", r.StatusCode)
	}
	if r := logs("alice"); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream of one client: %d", r.StatusCode)
	}
	bob := logs("bob")
	if bob.StatusCode != 200 {
		t.Fatalf("another client: %d", bob.StatusCode)
	}
	if r := logs("carol"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the total: %d", r.StatusCode)
	}
	// An exec counts against the same limit, and is refused before the
	// websocket is upgraded.
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(ts.URL)+"/api/v1/namespaces/default/pods/p/exec?command=sh",
		http.Header{clientHeader: {"alice"}, "Sec-WebSocket-Protocol": {api.ExecProtocol}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("exec over the limit: %v %v", err, resp)
	}
	bob.Body.Close()
	poll.Cond(t, 20*time.Second, "condition", func() bool { return open.Load() == 1 })
	if r := logs("carol"); r.StatusCode != 200 {
		t.Fatalf("after a stream closed: %d", r.StatusCode)
	}
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

func TestABodyMustArriveInTime(t *testing.T) {
	ts, _ := limitedServer(t, func(c *server.Config) { c.Limits = server.Limits{BodyTimeout: 300 * time.Millisecond} })
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /shoal/v1/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/yaml\r\nContent-Length: 1000\r\n\r\napiVersion: v1\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "did not arrive") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestAWatcherThatStopsReadingIsCutOff(t *testing.T) {
	ts, objs := limitedServer(t, func(c *server.Config) {
		c.Limits = server.Limits{StreamWriteTimeout: 300 * time.Millisecond, MaxWatchesPerClient: 1, WriteTimeout: 2 * time.Second}
	})
	// A raw connection that sends the request and never reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: stalled\r\n\r\n", clientHeader)
	// The stalled watch holds the client's one watch once its headers
	// arrive (the server sends them at once). Wait for them: otherwise a
	// watch of the poll below can take the slot first, the stalled one is
	// the one refused, and the client is never seen at its limit.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	started, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || started.StatusCode != http.StatusOK {
		t.Fatalf("the stalled watch did not start: %v %v", started, err)
	}
	conn.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// While the stalled watch is open, the client has no other.
	poll.Cond(t, 20*time.Second, "condition", func() bool {
		resp, _ := openWatch(t, ctx, ts.URL, "stalled")
		if resp.StatusCode == 200 {
			resp.Body.Close()
		}
		return resp.StatusCode == http.StatusTooManyRequests
	})
	// Write events until the socket buffers are full and the server's
	// write has made no progress for the timeout: then the stream ends and
	// the client's one watch is free again.
	big := strings.Repeat("x", 32<<10)
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			objs.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("c%d", i), Namespace: "default"}, Data: map[string]string{"k": big}})
			if i%50 == 49 {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	poll.Cond(t, 20*time.Second, "condition", func() bool {
		resp, _ := openWatch(t, ctx, ts.URL, "stalled")
		ok := resp.StatusCode == 200
		if ok {
			resp.Body.Close()
		}
		return ok
	})
	cancel()
}

func TestStreamsOutliveTheRequestDeadlineAndEndCleanly(t *testing.T) {
	pio := &fakePodIO{logs: func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "first\n")
		// Quiet for longer than both timeouts, then one more line.
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "second\n")
		time.Sleep(700 * time.Millisecond)
		return nil
	}}
	ts, objs := limitedServer(t, func(c *server.Config) {
		c.Limits = server.Limits{WriteTimeout: 300 * time.Millisecond, StreamWriteTimeout: 300 * time.Millisecond}
		c.PodIO = pio
	})
	resp, b := send(t, "GET", ts.URL+"/api/v1/namespaces/default/pods/p/log?follow=true", "", nil)
	if resp.StatusCode != 200 || string(b) != "first\nsecond\n" {
		t.Fatalf("log stream: %d %q", resp.StatusCode, b)
	}
	// A watch gets an event long after the request's own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, _ := openWatch(t, ctx, ts.URL, "w")
	time.Sleep(700 * time.Millisecond)
	objs.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "late", Namespace: "default"}})
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"late"`) {
			return
		}
	}
	t.Fatalf("the watch ended before its event: %v", sc.Err())
}

func TestExecOriginMustBeTheAgentItself(t *testing.T) {
	pio := &fakePodIO{exec: func(ctx context.Context, stdin io.Reader, stdout io.Writer) (int, error) {
		io.WriteString(stdout, "ran")
		return 0, nil
	}}
	ts, _ := limitedServer(t, func(c *server.Config) { c.PodIO = pio })
	u := wsURL(ts.URL) + "/api/v1/namespaces/default/pods/p/exec?command=true"
	host := strings.TrimPrefix(ts.URL, "http://")
	for _, origin := range []string{"", "http://" + host, "HTTP://" + strings.ToUpper(host)} {
		h := http.Header{"Sec-WebSocket-Protocol": {api.ExecProtocol}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(u, h)
		if err != nil {
			t.Fatalf("Origin %q: %v %v", origin, err, resp)
		}
		_, msg, err := conn.ReadMessage()
		conn.Close()
		if err != nil || string(msg[1:]) != "ran" {
			t.Fatalf("Origin %q: %q %v", origin, msg, err)
		}
	}
	for _, origin := range []string{"http://attacker.example", "null", "http://" + host + ".attacker.example", "http://localhost:1"} {
		_, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {origin}, "Sec-WebSocket-Protocol": {api.ExecProtocol}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("Origin %q: %v %+v", origin, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		if s := status(t, b); s.Reason != api.ReasonForbidden || !strings.Contains(s.Message, origin) {
			t.Fatalf("Origin %q: %+v", origin, s)
		}
	}
}

func TestExecMessagesAreBounded(t *testing.T) {
	var got atomic.Int64
	pio := &fakePodIO{exec: func(ctx context.Context, stdin io.Reader, stdout io.Writer) (int, error) {
		n, _ := io.Copy(io.Discard, stdin)
		got.Store(n)
		<-ctx.Done()
		return 0, ctx.Err()
	}}
	ts, _ := limitedServer(t, func(c *server.Config) {
		c.PodIO = pio
		c.Limits = server.Limits{MaxWebsocketMessage: 64 << 10}
	})
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(ts.URL)+"/api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true",
		http.Header{"Sec-WebSocket-Protocol": {api.ExecProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Within the limit: delivered.
	if err := conn.WriteMessage(websocket.BinaryMessage, append([]byte{api.StreamStdin}, make([]byte, 60<<10)...)); err != nil {
		t.Fatal(err)
	}
	// Over it: the stream is closed with a reason, and no more is read.
	go conn.WriteMessage(websocket.BinaryMessage, append([]byte{api.StreamStdin}, make([]byte, 8<<20)...))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errorsAs(err, &ce) || ce.Code != websocket.CloseMessageTooBig || !strings.Contains(ce.Text, "smaller pieces") {
			t.Fatalf("want a close 1009 with a reason, got %v", err)
		}
		break
	}
	poll.Cond(t, 20*time.Second, "condition", func() bool { return got.Load() == 60<<10 })
}

func errorsAs(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	if ok {
		*ce = c
	}
	return ok
}

func TestForwardedStreamsGoToTheOtherAgentAsAnAgent(t *testing.T) {
	type seen struct{ host, origin string }
	got := make(chan seen, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.Header.Get("Origin")}
		io.WriteString(w, "from the other node")
	}))
	defer other.Close()
	target, _ := url.Parse(other.URL)
	ts, _ := limitedServer(t, func(c *server.Config) { c.PodIO = &fakePodIO{target: target} })
	resp, b := send(t, "GET", ts.URL+"/api/v1/namespaces/default/pods/p/log", "", hdr("Host", "agent.example", "Origin", "http://agent.example"))
	if resp.StatusCode != 200 || string(b) != "from the other node" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	s := <-got
	if s.host != target.Host || s.origin != "" {
		t.Fatalf("the other agent saw Host %q Origin %q; want %q and none", s.host, s.origin, target.Host)
	}
}

func TestForwardedExecOutlivesTheRequestDeadline(t *testing.T) {
	pio := &fakePodIO{exec: func(ctx context.Context, stdin io.Reader, stdout io.Writer) (int, error) {
		time.Sleep(800 * time.Millisecond)
		io.WriteString(stdout, "late output")
		return 0, nil
	}}
	far, _ := limitedServer(t, func(c *server.Config) { c.PodIO = pio })
	target, _ := url.Parse(far.URL)
	near, _ := limitedServer(t, func(c *server.Config) {
		c.PodIO = &fakePodIO{target: target}
		c.Limits = server.Limits{WriteTimeout: 200 * time.Millisecond, StreamWriteTimeout: 200 * time.Millisecond}
	})
	c, err := client.New(near.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code, err := c.Exec(context.Background(), "default", "p", api.ExecOptions{Command: []string{"x"}, Stdout: true}, nil, &out, nil, nil)
	if err != nil || code != 0 || out.String() != "late output" {
		t.Fatalf("forwarded exec: %d %q %v", code, out.String(), err)
	}
}

func TestApplyObjectsAreBounded(t *testing.T) {
	ts, objs := limitedServer(t, func(c *server.Config) { c.Limits = server.Limits{MaxApplyObjects: 5} })
	var body strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&body, "---\n"+cmYAML, fmt.Sprintf("c%d", i))
	}
	resp, b := send(t, "POST", ts.URL+"/shoal/v1/apply", body.String(), hdr("Content-Type", "application/yaml"))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(status(t, b).Message, "more than 5 objects") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if list, _, _ := objs.List(context.Background(), api.KindConfigMap, "", nil); len(list) != 0 {
		t.Fatalf("stored %d", len(list))
	}
	deep := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + "}"
	for _, path := range []string{"/api/v1/namespaces/default/configmaps", "/shoal/v1/apply"} {
		resp, b := send(t, "POST", ts.URL+path, deep, hdr("Content-Type", "application/json"))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(status(t, b).Message, "nest more than") {
			t.Fatalf("deep JSON to %s: %d %s", path, resp.StatusCode, b)
		}
	}
	bomb := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\nx: &a [" + strings.Repeat("a,", 100) + "a]\ny: [" + strings.Repeat("*a,", 200) + "*a]\n"
	for _, path := range []string{"/api/v1/namespaces/default/configmaps", "/shoal/v1/apply"} {
		resp, b := send(t, "POST", ts.URL+path, bomb, hdr("Content-Type", "application/yaml"))
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(status(t, b).Message, "aliases") {
			t.Fatalf("alias bomb to %s: %d %s", path, resp.StatusCode, b)
		}
	}
}

func TestNoCrossSitePreflightIsApproved(t *testing.T) {
	ts, _ := limitedServer(t, nil)
	resp, _ := send(t, "OPTIONS", ts.URL+"/shoal/v1/apply", "", hdr("Origin", "http://attacker.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"))
	if resp.StatusCode < 300 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight answered %d with Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestLogAndExecReadersThatStallAreCutOff(t *testing.T) {
	chunk := []byte(strings.Repeat("y", 32<<10))
	flood := func(ctx context.Context, w io.Writer) error {
		for ctx.Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	var ended atomic.Int32
	pio := &fakePodIO{
		logs: func(ctx context.Context, w io.Writer) error {
			defer ended.Add(1)
			return flood(ctx, w)
		},
		exec: func(ctx context.Context, _ io.Reader, stdout io.Writer) (int, error) {
			defer ended.Add(1)
			return 0, flood(ctx, stdout)
		},
	}
	ts, _ := limitedServer(t, func(c *server.Config) {
		c.PodIO = pio
		c.Limits = server.Limits{StreamWriteTimeout: 300 * time.Millisecond, MaxStreamsPerClient: 1}
	})
	// A follower of logs that never reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/namespaces/default/pods/p/log?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	poll.Cond(t, 20*time.Second, "condition", func() bool { return ended.Load() == 1 })
	// An exec client that never reads its output.
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts.URL)+"/api/v1/namespaces/default/pods/p/exec?command=yes",
		http.Header{"Sec-WebSocket-Protocol": {api.ExecProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	poll.Cond(t, 20*time.Second, "condition", func() bool { return ended.Load() == 2 })
	// Both places are free again.
	poll.Cond(t, 20*time.Second, "condition", func() bool {
		resp, err := http.Get(ts.URL + "/api/v1/namespaces/default/pods/p/log?tailLines=1")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
