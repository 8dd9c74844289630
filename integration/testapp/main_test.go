package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestServer returns a server with fixed identity whose /exit reports
// the code on the returned channel instead of exiting.
func newTestServer(t *testing.T, readyFile string) (*server, *httptest.Server, chan int, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	s := newServer(readyFile, logs)
	s.version, s.hostname = "v9", "host-1"
	s.environ = func() []string { return []string{"B=2", "A=1", "C=x=y"} }
	exits := make(chan int, 1)
	s.exit = func(code int) { exits <- code }
	s.exitDelay = 0
	ts := httptest.NewServer(s.routes())
	t.Cleanup(ts.Close)
	return s, ts, exits, logs
}

// get returns the status and body of a GET to ts.
func get(t *testing.T, ts *httptest.Server, path string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func expect(t *testing.T, ts *httptest.Server, path string, wantCode int, wantBody string) {
	t.Helper()
	code, body := get(t, ts, path)
	if code != wantCode || body != wantBody {
		t.Errorf("GET %s = %d %q, want %d %q", path, code, body, wantCode, wantBody)
	}
}

func TestLivenessToggle(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	expect(t, ts, "/healthz", 200, "ok\n")
	expect(t, ts, "/fail", 200, "ok\n")
	expect(t, ts, "/healthz", 500, "failing\n")
	expect(t, ts, "/readyz", 200, "ready\n") // liveness does not touch readiness
	expect(t, ts, "/recover", 200, "ok\n")
	expect(t, ts, "/healthz", 200, "ok\n")
}

func TestReadinessToggle(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	expect(t, ts, "/readyz", 200, "ready\n")
	expect(t, ts, "/ready/off", 200, "ok\n")
	expect(t, ts, "/readyz", 503, "not ready\n")
	expect(t, ts, "/healthz", 200, "ok\n")
	expect(t, ts, "/ready/on", 200, "ok\n")
	expect(t, ts, "/readyz", 200, "ready\n")
}

func TestReadyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ready")
	s, ts, _, _ := newTestServer(t, file)
	if err := s.setReady(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("ready file not written: %v", err)
	}
	expect(t, ts, "/ready/off", 200, "ok\n")
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ready file still there after /ready/off: %v", err)
	}
	expect(t, ts, "/ready/on", 200, "ok\n")
	expect(t, ts, "/readyz", 200, "ready\n")
	// Removing the file from outside, as an exec would, ends readiness.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	expect(t, ts, "/readyz", 503, "not ready\n")
}

func TestInfoEndpoints(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	expect(t, ts, "/version", 200, "v9\n")
	expect(t, ts, "/hostname", 200, "host-1\n")
	expect(t, ts, "/env", 200, "A=1\nB=2\nC=x=y\n")
	expect(t, ts, "/nope", 404, "404 page not found\n")

	_, body := get(t, ts, "/")
	if !strings.HasPrefix(body, "testapp version=v9 hostname=host-1 remote=127.0.0.1:") {
		t.Errorf("GET / = %q", body)
	}
}

func TestBytes(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	code, body := get(t, ts, "/bytes?n=100000")
	if code != 200 || len(body) != 100000 || strings.Trim(body, "\x00") != "" {
		t.Fatalf("/bytes?n=100000: %d, %d bytes", code, len(body))
	}
	for _, q := range []string{"", "?n=-1", "?n=x", "?n=2000000000"} {
		if code, _ := get(t, ts, "/bytes"+q); code != 400 {
			t.Errorf("/bytes%s: %d, want 400", q, code)
		}
	}
}

func TestFile(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, ts, "/file?path="+path, 200, "hello\n")
	if code, _ := get(t, ts, "/file?path="+path+"-missing"); code != 404 {
		t.Errorf("missing file: status %d, want 404", code)
	}
	if code, _ := get(t, ts, "/file"); code != 400 {
		t.Errorf("no path: status %d, want 400", code)
	}
}

func TestCall(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	_, other, _, _ := newTestServer(t, "")
	expect(t, ts, "/call?url="+url.QueryEscape(other.URL+"/env"), 200, "A=1\nB=2\nC=x=y\n")
	// The called server's status is relayed.
	expect(t, ts, "/call?url="+url.QueryEscape(other.URL+"/nope"), 404, "404 page not found\n")
	for _, bad := range []string{"", "ftp://x/", "http://", "%zz"} {
		if code, _ := get(t, ts, "/call?url="+bad); code != 400 {
			t.Errorf("url %q: status %d, want 400", bad, code)
		}
	}
	// Nothing listens on port 1 of the loopback.
	if code, body := get(t, ts, "/call?url=http://127.0.0.1:1/"); code != 502 || !strings.HasPrefix(body, "call: ") {
		t.Errorf("unreachable: %d %q, want 502 call: ...", code, body)
	}
}

func TestExit(t *testing.T) {
	_, ts, exits, _ := newTestServer(t, "")
	if code, _ := get(t, ts, "/exit?code=abc"); code != 400 {
		t.Errorf("bad code: status %d, want 400", code)
	}
	expect(t, ts, "/exit?code=3", 200, "exiting with code 3\n")
	select {
	case code := <-exits:
		if code != 3 {
			t.Errorf("exit code %d, want 3", code)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("exit was not called")
	}
}

func TestEcho(t *testing.T) {
	_, ts, _, _ := newTestServer(t, "")
	code, body := get(t, ts, "/echo?x=1", "X-Forwarded-For", "10.0.0.7", "X-Test", "yes")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	var got echoReply
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	if got.Method != "GET" || got.URI != "/echo?x=1" || got.XForwardedFor != "10.0.0.7" ||
		got.Headers["X-Test"] != "yes" || got.Hostname != "host-1" ||
		!strings.HasPrefix(got.RemoteAddr, "127.0.0.1:") {
		t.Errorf("echo reply = %+v", got)
	}
}

func TestRequestLog(t *testing.T) {
	_, ts, _, logs := newTestServer(t, "")
	get(t, ts, "/fail")
	get(t, ts, "/healthz")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %q", lines)
	}
	if !strings.Contains(lines[1], " GET /healthz 127.0.0.1:") || !strings.Contains(lines[1], " 500 ") {
		t.Errorf("log line = %q", lines[1])
	}
}

func TestTally(t *testing.T) {
	var buf bytes.Buffer
	writeTally(&buf, map[string]int{"b": 3, "a": 3, "c": 5, "d": 1})
	want := "5 c\n3 a\n3 b\n1 d\n"
	if buf.String() != want {
		t.Errorf("tally = %q, want %q", buf.String(), want)
	}
}

func TestGetMany(t *testing.T) {
	n := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		switch n % 3 {
		case 0:
			http.Error(w, "down", 500)
		case 1:
			io.WriteString(w, "backend-a\n")
		default:
			io.WriteString(w, "backend-b\n")
		}
	}))
	defer ts.Close()
	tally, failed := getMany(newHTTPClient(time.Second, false, 1), ts.URL, 6)
	want := map[string]int{"backend-a": 2, "backend-b": 2, "error: HTTP 500 Internal Server Error": 2}
	if failed != 2 || !reflect.DeepEqual(tally, want) {
		t.Errorf("getMany = %v, %d failed; want %v, 2 failed", tally, failed, want)
	}
}

func TestLoad(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer ts.Close()
	res := loadTest(context.Background(), newHTTPClient(time.Second, true, 2), ts.URL, 200*time.Millisecond, 2)
	if res.Requests == 0 || res.Errors != 0 || res.RPS <= 0 || res.P50ms > res.P99ms || res.P99ms > res.MaxMs {
		t.Errorf("load result = %+v", res)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(d, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of none = %v", p)
	}
}

func TestParseArgs(t *testing.T) {
	stderr = io.Discard
	defer func() { stderr = os.Stderr }()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	count := fs.Int("count", 1, "")
	pos, err := parseArgs(fs, []string{"a", "--count", "4", "b", "--", "--count", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if *count != 4 || !reflect.DeepEqual(pos, []string{"a", "b", "--count", "c"}) {
		t.Errorf("count %d, positional %q", *count, pos)
	}
	if _, err := parseArgs(fs, []string{"--bogus"}); err != exitCode(2) {
		t.Errorf("unknown flag: err %v, want exit status 2", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"5": 5 * time.Second, "0.5": 500 * time.Millisecond, "2m": 2 * time.Minute} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "soon", "-2s"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded", in)
		}
	}
}

// fakeResolver answers from fixed data, or fails with NXDOMAIN.
type fakeResolver struct{ nx bool }

func (f fakeResolver) err(name string) error {
	if f.nx {
		return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return nil
}

func (f fakeResolver) LookupIP(_ context.Context, network, host string) ([]net.IP, error) {
	if network == "ip6" {
		return []net.IP{net.ParseIP("fd00::1")}, f.err(host)
	}
	return []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.2")}, f.err(host)
}

func (f fakeResolver) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	return "", []*net.SRV{{Target: "web-0.web.default.svc.", Port: 80, Priority: 0, Weight: 50}}, f.err(name)
}

func (f fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return []string{"web.default.svc."}, f.err(addr)
}

func (f fakeResolver) LookupCNAME(_ context.Context, host string) (string, error) {
	return "target.example.", f.err(host)
}

func (f fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return []string{"v=1"}, f.err(name)
}

func TestLookup(t *testing.T) {
	cases := map[string][]string{
		"A":     {"10.0.0.1", "10.0.0.2"},
		"AAAA":  {"fd00::1"},
		"SRV":   {"0 50 80 web-0.web.default.svc."},
		"PTR":   {"web.default.svc."},
		"CNAME": {"target.example."},
		"TXT":   {"v=1"},
	}
	for typ, want := range cases {
		got, err := lookup(context.Background(), fakeResolver{}, typ, "web")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("lookup %s = %q, %v; want %q", typ, got, err, want)
		}
	}
	if _, err := lookup(context.Background(), fakeResolver{nx: true}, "A", "nope"); err == nil {
		t.Error("NXDOMAIN lookup succeeded")
	}
	if _, err := lookup(context.Background(), fakeResolver{}, "MX", "web"); err == nil {
		t.Error("unsupported type accepted")
	}
}

// runCaptured runs the CLI with args and returns its status and output.
func runCaptured(args ...string) (int, string) {
	var out bytes.Buffer
	stdout, stderr = &out, &out
	defer func() { stdout, stderr = os.Stdout, os.Stderr }()
	code := run(args)
	return code, out.String()
}

func TestRunCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f")
	cases := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"echo", "a", "b"}, 0, "a b\n"},
		{[]string{"exit", "7"}, 7, ""},
		{[]string{"exit", "0", "--after", "1ms"}, 0, ""},
		{[]string{"version"}, 0, version + "\n"},
		{[]string{"write", path, "hello", "there"}, 0, ""},
		{[]string{"cat", path}, 0, "hello there\n"},
		{[]string{"sleep", "1ms"}, 0, ""},
	}
	for _, c := range cases {
		code, out := runCaptured(c.args...)
		if code != c.wantCode || out != c.wantOut {
			t.Errorf("%q: %d %q, want %d %q", c.args, code, out, c.wantCode, c.wantOut)
		}
	}
	for _, args := range [][]string{{"bogus"}, {"exit"}, {"exit", "300"}, {"sleep", "soon"}} {
		if code, _ := runCaptured(args...); code != 2 {
			t.Errorf("%q: status %d, want 2", args, code)
		}
	}
	if code, out := runCaptured("crash"); code != 1 || !strings.Contains(out, "crashing") {
		t.Errorf("crash: %d %q", code, out)
	}
	if code, _ := runCaptured("cat", path+"-missing"); code != 1 {
		t.Errorf("cat missing file: status %d, want 1", code)
	}
}

func TestEchoServers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stdout = io.Discard
	defer func() { stdout = os.Stdout }()
	go serveTCPEcho(ln, "h1\n")
	got, err := send("tcp", ln.Addr().String(), "ping\n", 2*time.Second)
	if err != nil || string(got) != "h1\nping\n" {
		t.Errorf("tcp echo = %q, %v", got, err)
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go serveUDPEcho(pc, "h2\n")
	got, err = send("udp", pc.LocalAddr().String(), "pong\n", 2*time.Second)
	if err != nil || string(got) != "h2\npong\n" {
		t.Errorf("udp echo = %q, %v", got, err)
	}
}

func TestLoadNewConnections(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer ts.Close()
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if err := runLoad([]string{ts.URL, "--duration", "100ms", "--concurrency", "1", "--new-connections"}); err != nil {
		t.Fatal(err)
	}
	var res loadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Requests < 2 || len(conns) != res.Requests {
		t.Errorf("%d requests over %d connections; want one connection each", res.Requests, len(conns))
	}
}
