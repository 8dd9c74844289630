package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// harness is a proxy serving on loopback, fed by a fake source.
type harness struct {
	t      *testing.T
	src    *fakeSource
	p      *Proxy
	url    string
	client *http.Client
}

func newHarness(t *testing.T, cfg Config, objs ...api.Object) *harness {
	t.Helper()
	src := newFakeSource(objs...)
	p := New(cfg, testLogger(t))
	runOn(t, p, src)
	h := newServer(t, p)
	h.src = src
	poll.Cond(t, time.Second, "routes loaded", func() bool { return p.table.Load() != nil })
	return h
}

// runOn runs p on src until the test ends.
func runOn(t *testing.T, p *Proxy, src Source) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Run(ctx, src); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// newServer serves p on loopback until the test ends.
func newServer(t *testing.T, p *Proxy) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, p: p, url: "http://" + ln.Addr().String()}
	h.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Serve(ctx, ln); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		cancel()
		wg.Wait()
	})
	return h
}

// reply is what a test backend saw, sent back as JSON.
type reply struct {
	Backend string
	Host    string
	Path    string
	XFF     string
	XFHost  string
	XFProto string
	Body    string
}

// backendServer answers every request with a reply naming it.
func backendServer(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply{
			Backend: name, Host: r.Host, Path: r.URL.Path, Body: string(body),
			XFF:     r.Header.Get("X-Forwarded-For"),
			XFHost:  r.Header.Get("X-Forwarded-Host"),
			XFProto: r.Header.Get("X-Forwarded-Proto"),
		})
	}))
	t.Cleanup(s.Close)
	return s
}

// do sends a request through the proxy and returns the status and body.
func (h *harness) do(method, host, path, body string, header http.Header) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s%s: reading body: %v", method, host, path, err)
	}
	return resp.StatusCode, string(b)
}

// get expects a 200 from a test backend and returns its reply.
func (h *harness) get(host, path string) reply {
	h.t.Helper()
	code, body := h.do(http.MethodGet, host, path, "", nil)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s%s: %d %s", host, path, code, body)
	}
	return decodeReply(h.t, body)
}

// backendOf names the backend that answered, or the status when none did.
func (h *harness) backendOf(host, path string) string {
	h.t.Helper()
	code, body := h.do(http.MethodGet, host, path, "", nil)
	if code != http.StatusOK {
		return fmt.Sprintf("status %d", code)
	}
	return decodeReply(h.t, body).Backend
}

func decodeReply(t *testing.T, body string) reply {
	t.Helper()
	var r reply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("backend reply %q: %v", body, err)
	}
	return r
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// webIngress routes every path of app.example.com to Service default/web.
func webIngress() *api.Ingress {
	return ingressOf("default", "app", 0, api.IngressSpec{Rules: []api.IngressRule{
		rule("app.example.com", httpPath(prefix, "/", "web")),
	}})
}
