package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/internal/poll"
)

// limitsHTTP holds the client of rawRequest for each agent: trusting its
// CA, with no connection pooling limits, so that a test can hold thousands
// of requests open at once.
var limitsHTTP sync.Map // data dir -> *http.Client

func rawClient(a *agent) *http.Client {
	if c, ok := limitsHTTP.Load(a.dataDir); ok {
		return c.(*http.Client)
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(a.caFile())
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	limitsHTTP.Store(a.dataDir, c)
	return c
}

// rawRequest sends one HTTP request to the agent's API as any client could,
// bypassing the Go client's own checks. It is the only place this file makes
// raw requests, so that the scheme and credentials change in one place.
func rawRequest(a *agent, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	return rawRequestContext(context.Background(), a, method, path, body, header)
}

func rawRequestContext(ctx context.Context, a *agent, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.url()+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	// The admin credentials, unless the test sends its own.
	if req.Header.Get("Authorization") == "" {
		kc, err := client.LoadKubeconfig(a.kubeconfig())
		if err != nil {
			return nil, err
		}
		conn, err := kc.Resolve("")
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+conn.Token)
	}
	return rawClient(a).Do(req)
}

// readAnswer reads a whole answer and closes it.
func readAnswer(resp *http.Response) (int, string) {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// memoryWatch samples the agent's resident memory and checks that it keeps
// answering a GET within a second, until stop.
type memoryWatch struct {
	maxRSS     atomic.Int64 // KiB
	slowest    atomic.Int64 // ns
	getFailed  atomic.Value // string
	stop, done chan struct{}
}

func watchMemory(t *testing.T, a *agent) *memoryWatch {
	m := &memoryWatch{stop: make(chan struct{}), done: make(chan struct{})}
	pid := a.cmd.Process.Pid
	go func() {
		defer close(m.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		sample := func() {
			if kb := vmRSS(pid); kb > m.maxRSS.Load() {
				m.maxRSS.Store(kb)
			}
		}
		var gets sync.WaitGroup
		defer gets.Wait()
		defer sample()
		lastGet := time.Time{}
		for {
			sample()
			if time.Since(lastGet) >= 200*time.Millisecond {
				lastGet = time.Now()
				gets.Add(1)
				go func() {
					defer gets.Done()
					m.get(a)
				}()
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// get reads one object and records how long it took.
func (m *memoryWatch) get(a *agent) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.client.Get(ctx, api.KindNamespace, "", "default")
	took := time.Since(start)
	if err != nil {
		m.getFailed.Store(err.Error())
	}
	for {
		old := m.slowest.Load()
		if int64(took) <= old || m.slowest.CompareAndSwap(old, int64(took)) {
			return
		}
	}
}

func (m *memoryWatch) finish(t *testing.T, what string) {
	t.Helper()
	m.finishWithin(t, what, time.Second)
}

// finishWithin is finish with another bound on a GET.
func (m *memoryWatch) finishWithin(t *testing.T, what string, getLimit time.Duration) {
	t.Helper()
	close(m.stop)
	<-m.done
	rss, slowest := m.maxRSS.Load(), time.Duration(m.slowest.Load())
	t.Logf("%s: agent RSS at most %d MiB; slowest GET %v", what, rss>>10, slowest.Round(time.Millisecond))
	if rss > 100<<10 {
		t.Errorf("%s: the agent's RSS reached %d MiB (limit 100 MiB)", what, rss>>10)
	}
	if f, _ := m.getFailed.Load().(string); f != "" {
		t.Errorf("%s: a GET failed: %s", what, f)
	}
	if slowest > getLimit {
		t.Errorf("%s: a GET took %v (limit %v)", what, slowest, getLimit)
	}
}

// vmRSS reads a process's resident set size in KiB.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func billionLaughsYAML() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs}\ndata:\n  a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
	}
	return b.String()
}

// TestAPIRefusesHostileInputWithBoundedMemory sends what the review found
// taking gigabytes: each is answered 4xx, nothing is stored, the agent stays
// under 100 MiB and keeps answering.
func TestAPIRefusesHostileInputWithBoundedMemory(t *testing.T) {
	a := startAgent(t)
	yaml := http.Header{"Content-Type": {"application/yaml"}}
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	// The review's apply: 168,000 ConfigMaps in 12 MiB.
	var cms strings.Builder
	for i := 0; i < 168000; i++ {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: configmap-%06d}\n", i)
	}
	deep := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":` +
		strings.Repeat(`{"a":`, 100000) + `"x"` + strings.Repeat("}", 100000) + "}"
	cases := []struct {
		name, method, path, body string
		header                   http.Header
		code                     int
		mention                  string
	}{
		{"YAML alias bomb (billion laughs)", "POST", "/shoal/v1/apply", billionLaughsYAML(), yaml, 413, "aliases"},
		{"YAML alias bomb (1 MiB string 1,000 times)", "POST", "/shoal/v1/apply",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\nbig: &b \"" + strings.Repeat("x", 1<<20) + "\"\nrefs: [" + strings.Repeat("*b,", 1000) + "*b]\n",
			yaml, 413, "aliases"},
		{"YAML alias bomb to create", "POST", "/api/v1/namespaces/default/configmaps", billionLaughsYAML(), yaml, 413, "aliases"},
		{"100,000-deep JSON to create", "POST", "/api/v1/namespaces/default/configmaps", deep, jsonCT, 400, "nest more than"},
		{"100,000-deep JSON to apply", "POST", "/shoal/v1/apply", deep, jsonCT, 400, "nest more than"},
		{"oversized body", "POST", "/api/v1/namespaces/default/configmaps", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"` + strings.Repeat("x", 4<<20) + `"}}`, jsonCT, 413, "too large"},
		{fmt.Sprintf("168,000 ConfigMaps in one apply (%.1f MiB)", float64(cms.Len())/(1<<20)), "POST", "/shoal/v1/apply", cms.String(), yaml, 413, "more than 1000 objects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := watchMemory(t, a)
			start := time.Now()
			resp, err := rawRequest(a, c.method, c.path, strings.NewReader(c.body), c.header)
			if err != nil {
				t.Fatal(err)
			}
			code, body := readAnswer(resp)
			took := time.Since(start)
			mem.finish(t, c.name)
			t.Logf("%s: %d in %v", c.name, code, took.Round(time.Millisecond))
			if code != c.code || !strings.Contains(body, c.mention) || !strings.Contains(body, `"kind":"Status"`) {
				t.Fatalf("HTTP %d %.300s; want %d mentioning %q", code, body, c.code, c.mention)
			}
		})
	}
	list, _, err := a.client.List(ctx(t), api.KindConfigMap, "default", api.ListOptions{})
	if err != nil || len(list) != 0 {
		t.Fatalf("hostile input stored %d ConfigMaps (%v)", len(list), err)
	}
}

// TestAPIBoundsIdleWatches opens 2,000 watches at once from one client: all
// beyond the per-client limit are answered 429, the agent's memory stays
// bounded, and it keeps answering.
func TestAPIBoundsIdleWatches(t *testing.T) {
	a := startAgent(t)
	burst := watchMemory(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 2000
	var open, refused atomic.Int32
	var other sync.Map
	var wg sync.WaitGroup
	bodies := make(chan io.Closer, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := rawRequestContext(ctx, a, "GET", "/api/v1/namespaces/default/configmaps?watch=true", nil, nil)
			if err != nil {
				other.Store(err.Error(), true)
				return
			}
			switch resp.StatusCode {
			case http.StatusOK:
				open.Add(1)
				bodies <- resp.Body
			case http.StatusTooManyRequests:
				if resp.Header.Get("Retry-After") == "" {
					other.Store("429 without Retry-After", true)
				}
				refused.Add(1)
				readAnswer(resp)
			default:
				code, body := readAnswer(resp)
				other.Store(fmt.Sprintf("%d %s", code, body), true)
			}
		}()
	}
	wg.Wait()
	// While the 2,000 requests arrive, this test's own 2,000 goroutines
	// share the machine's cores with the agent: a GET must not wedge (5 s);
	// once they are in, it must be quick again.
	burst.finishWithin(t, "opening 2,000 watches at once", 5*time.Second)
	idle := watchMemory(t, a)
	time.Sleep(3 * time.Second)
	idle.finish(t, "holding the admitted watches idle")
	t.Logf("watches: %d open, %d refused with 429", open.Load(), refused.Load())
	other.Range(func(k, _ any) bool { t.Errorf("unexpected answer: %v", k); return true })
	if open.Load() == 0 || open.Load() > 100 || open.Load()+refused.Load() != n {
		t.Fatalf("%d open and %d refused of %d; want at most 100 open and the rest refused", open.Load(), refused.Load(), n)
	}
	// The watches that are open still work.
	close(bodies)
	first := true
	for b := range bodies {
		if first {
			first = false
			a.client.Create(ctx, api.KindConfigMap, "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "seen"}})
			line, err := bufio.NewReader(b.(io.Reader)).ReadString('\n')
			if err != nil || !strings.Contains(line, `"seen"`) {
				t.Errorf("an admitted watch did not stream: %q %v", line, err)
			}
		}
		b.Close()
	}
	// Once closed, their places are free again.
	poll.Until(t, 20*time.Second, "a new watch after closing", func() error {
		resp, err := rawRequestContext(ctx, a, "GET", "/api/v1/namespaces/default/configmaps?watch=true", nil, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// TestAPIRefusesBrowserRequests plays a web page in a user's browser: a
// cross-site form post, a DNS-rebinding page, a websocket from another site.
func TestAPIRefusesBrowserRequests(t *testing.T) {
	a := startAgent(t, "--api-allowed-hosts", "shoal.example.test")
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: csrf}\n"
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		resp, err := rawRequest(a, "POST", "/shoal/v1/apply", strings.NewReader(cm), http.Header{"Content-Type": {ct}})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := readAnswer(resp); code != http.StatusUnsupportedMediaType || !strings.Contains(body, "application/yaml") {
			t.Fatalf("form-like post %q: %d %s", ct, code, body)
		}
	}
	// A rebinding page's requests carry its own name.
	for _, host := range []string{"attacker.example:7480", "rebind.attacker.example"} {
		resp, err := rawRequest(a, "GET", "/api/v1/namespaces/default/secrets", nil, http.Header{"Host": {host}})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := readAnswer(resp); code != http.StatusMisdirectedRequest || !strings.Contains(body, "--api-allowed-hosts") {
			t.Fatalf("Host %s: %d %s", host, code, body)
		}
	}
	// The agent's own names pass: its node name and the configured one.
	for _, host := range []string{a.name, "shoal.example.test", "localhost"} {
		resp, err := rawRequest(a, "GET", "/api/v1/namespaces", nil, http.Header{"Host": {fmt.Sprintf("%s:%d", host, a.port)}})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := readAnswer(resp); code != http.StatusOK {
			t.Fatalf("Host %s: %d %s", host, code, body)
		}
	}
	if _, err := a.client.Get(ctx(t), api.KindConfigMap, "default", "csrf"); !api.IsNotFound(err) {
		t.Fatalf("a refused post stored something: %v", err)
	}
	// A websocket from another site's page: refused before any command runs.
	resp, err := rawRequest(a, "GET", "/api/v1/namespaces/default/pods/any/exec?command=id", nil, http.Header{
		"Origin": {"http://attacker.example"}, "Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {api.ExecProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := readAnswer(resp); code != http.StatusForbidden || !strings.Contains(body, "attacker.example") {
		t.Fatalf("cross-site exec websocket: %d %s", code, body)
	}
	// The CLI, which sends none of that, works.
	a.shoalIn([]byte(cm), "apply", "-f", "-")
	if _, err := a.client.Get(ctx(t), api.KindConfigMap, "default", "csrf"); err != nil {
		t.Fatalf("the CLI's apply: %v", err)
	}
}
