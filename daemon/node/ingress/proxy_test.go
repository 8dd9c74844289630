package ingress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestProxyRoutesToTheMatchingService(t *testing.T) {
	web, apiSrv := backendServer(t, "web"), backendServer(t, "api")
	ing := ingressOf("default", "app", 0, api.IngressSpec{Rules: []api.IngressRule{
		rule("app.example.com", httpPath(prefix, "/", "web"), httpPath(prefix, "/api", "api")),
	}})
	h := newHarness(t, Config{}, ing,
		serviceOf("default", "web"), endpointsOf(t, "default", "web", []string{hostPort(t, web.URL)}),
		serviceOf("default", "api"), endpointsOf(t, "default", "api", []string{hostPort(t, apiSrv.URL)}),
	)
	for _, c := range []struct{ path, want string }{
		{"/", "web"}, {"/index.html", "web"}, {"/api", "api"}, {"/api/users?x=1", "api"}, {"/apis", "web"},
	} {
		r := h.get("app.example.com", c.path)
		if r.Backend != c.want {
			t.Errorf("GET %s went to %q, want %q", c.path, r.Backend, c.want)
		}
		if wantPath, _, _ := strings.Cut(c.path, "?"); r.Path != wantPath {
			t.Errorf("GET %s: backend saw path %q", c.path, r.Path)
		}
	}

	code, body := h.do(http.MethodGet, "other.example.com", "/nothing", "", nil)
	if code != http.StatusNotFound {
		t.Fatalf("unknown host: %d %s, want 404", code, body)
	}
	if !strings.Contains(body, `"other.example.com"`) || !strings.Contains(body, `"/nothing"`) {
		t.Errorf("404 body %q does not name the host and path", body)
	}
}

func TestProxyRoundRobin(t *testing.T) {
	a, b := backendServer(t, "a"), backendServer(t, "b")
	h := newHarness(t, Config{}, webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{hostPort(t, a.URL), hostPort(t, b.URL)}))
	seen := map[string]int{}
	for range 6 {
		seen[h.get("app.example.com", "/").Backend]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Errorf("requests per endpoint = %v, want 3 each", seen)
	}
}

func TestProxyForwardedHeaders(t *testing.T) {
	web := backendServer(t, "web")
	h := newHarness(t, Config{}, webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{hostPort(t, web.URL)}))

	code, body := h.do(http.MethodGet, "app.example.com:8080", "/", "", http.Header{
		"X-Forwarded-For":   {"203.0.113.7"},
		"X-Forwarded-Proto": {"https"}, // from the client: not trusted
	})
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	r := decodeReply(t, body)
	for _, c := range []struct{ name, got, want string }{
		{"Host", r.Host, "app.example.com:8080"},
		{"X-Forwarded-For", r.XFF, "203.0.113.7, 127.0.0.1"},
		{"X-Forwarded-Host", r.XFHost, "app.example.com:8080"},
		{"X-Forwarded-Proto", r.XFProto, "http"},
	} {
		if c.got != c.want {
			t.Errorf("backend saw %s %q, want %q", c.name, c.got, c.want)
		}
	}
	if r := h.get("app.example.com", "/"); r.XFF != "127.0.0.1" {
		t.Errorf("X-Forwarded-For without a prior proxy = %q, want the client address", r.XFF)
	}
}

func TestProxyNoReadyEndpoints(t *testing.T) {
	ing := ingressOf("default", "app", 0, api.IngressSpec{Rules: []api.IngressRule{
		rule("app.example.com", httpPath(prefix, "/", "web"), httpPath(prefix, "/gone", "gone")),
	}})
	h := newHarness(t, Config{}, ing, serviceOf("default", "web"),
		endpointsOf(t, "default", "web", nil, "127.0.0.1:1"))

	for _, c := range []struct{ path, want string }{
		{"/", "no ready endpoints for service default/web\n"},
		{"/gone", "no ready endpoints for service default/gone (service not found)\n"},
	} {
		code, body := h.do(http.MethodGet, "app.example.com", c.path, "", nil)
		if code != http.StatusServiceUnavailable || body != c.want {
			t.Errorf("GET %s = %d %q, want 503 %q", c.path, code, body, c.want)
		}
	}
	if s := h.p.Stats(); s.Responses5xx != 2 || s.UpstreamErrors != 0 {
		t.Errorf("stats = %+v, want 2 5xx and no upstream error", s)
	}
}

func TestProxyRetriesAnotherEndpoint(t *testing.T) {
	live := backendServer(t, "live")
	h := newHarness(t, Config{}, webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{deadAddr(t), hostPort(t, live.URL)}))

	// Round robin alternates, so half of the requests try the dead endpoint
	// first; the POSTs check the body survives the failed attempt.
	for i := range 8 {
		method, body := http.MethodGet, ""
		if i%4 == 0 || i%4 == 1 {
			method, body = http.MethodPost, fmt.Sprintf("payload-%d", i)
		}
		code, resp := h.do(method, "app.example.com", "/", body, nil)
		if code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, code, resp)
		}
		if r := decodeReply(t, resp); r.Backend != "live" || r.Body != body {
			t.Errorf("request %d: backend %q got body %q, want live and %q", i, r.Backend, r.Body, body)
		}
	}
	if s := h.p.Stats(); s.Retries != 4 || s.UpstreamErrors != 0 || s.Responses2xx != 8 {
		t.Errorf("stats = %+v, want 4 retries, 8 2xx, no upstream error", s)
	}
}

func TestProxyBackendDown(t *testing.T) {
	h := newHarness(t, Config{}, webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{deadAddr(t)}))
	code, body := h.do(http.MethodGet, "app.example.com", "/", "", nil)
	if code != http.StatusBadGateway || !strings.Contains(body, "default/web") {
		t.Errorf("dead endpoint: %d %q, want 502 naming the service", code, body)
	}
	if s := h.p.Stats(); s.UpstreamErrors != 1 || s.Retries != 0 || s.Responses5xx != 1 {
		t.Errorf("stats = %+v, want 1 upstream error, no retry, 1 5xx", s)
	}
}

func TestProxyResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	h := newHarness(t, Config{ResponseHeaderTimeout: 50 * time.Millisecond}, webIngress(),
		serviceOf("default", "web"), endpointsOf(t, "default", "web", []string{hostPort(t, slow.URL)}))
	if code, body := h.do(http.MethodGet, "app.example.com", "/", "", nil); code != http.StatusGatewayTimeout {
		t.Errorf("slow backend: %d %q, want 504", code, body)
	}
}

func TestProxyUpdateVisibleWithin100ms(t *testing.T) {
	a, b := backendServer(t, "a"), backendServer(t, "b")
	h := newHarness(t, Config{}, webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{hostPort(t, a.URL)}))
	if r := h.get("app.example.com", "/"); r.Backend != "a" {
		t.Fatalf("before the change: %q", r.Backend)
	}

	h.src.put(endpointsOf(t, "default", "web", []string{hostPort(t, b.URL)}))
	poll.Cond(t, 100*time.Millisecond, "new endpoints in use", func() bool {
		return h.backendOf("app.example.com", "/") == "b"
	})

	ing := webIngress()
	ing.Spec.Rules = append(ing.Spec.Rules, rule("new.example.com", httpPath(exact, "/hello", "web")))
	h.src.put(ing)
	poll.Cond(t, 100*time.Millisecond, "new rule in use", func() bool {
		code, _ := h.do(http.MethodGet, "new.example.com", "/hello", "", nil)
		return code == http.StatusOK
	})
}

func TestProxyPassesUpgrades(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	}))
	defer echo.Close()
	h := newHarness(t, Config{}, webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{hostPort(t, echo.URL)}))

	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("upgrade answered %s, Upgrade %q", resp.Status, resp.Header.Get("Upgrade"))
	}
	if _, err := fmt.Fprint(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("over the upgraded connection: %q, %v", line, err)
	}
	conn.Close()
	poll.Cond(t, time.Second, "upgrade counted as 1xx", func() bool { return h.p.Stats().Responses1xx == 1 })
}

func TestProxyNotSynced(t *testing.T) {
	p := New(Config{}, testLogger(t))
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), ErrNotSynced.Error()) {
		t.Errorf("before Run: %d %q, want 503 %q", w.Code, w.Body, ErrNotSynced)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = fmt.Fprint(w, "done")
	}))
	defer slow.Close()
	src := newFakeSource(webIngress(), serviceOf("default", "web"),
		endpointsOf(t, "default", "web", []string{hostPort(t, slow.URL)}))
	p := New(Config{}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	wg.Go(func() { _ = p.Run(runCtx, src) })
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	poll.Cond(t, time.Second, "routes loaded", func() bool { return p.table.Load() != nil })

	type result struct {
		code int
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
		req.Host = "app.example.com"
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, err = bufio.NewReader(resp.Body).WriteTo(&sb)
		got <- result{resp.StatusCode, sb.String(), err}
	}()
	select {
	case <-entered:
	case r := <-got:
		t.Fatalf("request answered before reaching the backend: %d %q %v", r.code, r.body, r.err)
	}
	cancel()
	// Serve stops accepting at once but waits for the request in flight.
	poll.Cond(t, time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 50*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.code != http.StatusOK || r.body != "done" {
		t.Errorf("request in flight: %d %q %v, want 200 done", r.code, r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request")
	}
}

func TestListenAndServeReportsListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = New(Config{}, testLogger(t)).ListenAndServe(context.Background(), ln.Addr().String())
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("listening on a taken port: %v, want a *net.OpError", err)
	}
}
