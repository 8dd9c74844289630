package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// engineCounter is a proxy in front of the engine's socket that counts the
// API calls going through it, by method and path pattern.
type engineCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

var (
	apiVersion = regexp.MustCompile(`^/v[0-9.]+`)
	longID     = regexp.MustCompile(`/[0-9a-f]{64}`)
	nameInPath = regexp.MustCompile(`^/(containers|images|networks|volumes|exec)/[^/]+`)
)

func (c *engineCounter) note(r *http.Request) {
	p := apiVersion.ReplaceAllString(r.URL.Path, "")
	p = longID.ReplaceAllString(p, "/{id}")
	if !strings.HasSuffix(p, "/json") || strings.Count(p, "/") > 2 {
		p = nameInPath.ReplaceAllString(p, "/$1/{id}")
	}
	if strings.HasPrefix(p, "/images/") && strings.HasSuffix(p, "/json") {
		p = "/images/{ref}/json"
	}
	c.mu.Lock()
	c.counts[r.Method+" "+p]++
	c.mu.Unlock()
}

func (c *engineCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// startEngineCounter serves a counting proxy of /var/run/docker.sock on a
// socket of its own and returns its DOCKER_HOST.
func startEngineCounter(t *testing.T) (*engineCounter, string) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := &engineCounter{counts: map[string]int{}}
	target, _ := url.Parse("http://docker")
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // event streams
	proxy.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", "/var/run/docker.sock")
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.note(r)
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); os.Remove(sock) })
	return c, "unix://" + sock
}

// TestEngineCallsPerPodStart counts the engine API calls an agent makes to
// start pods (from the apply to every pod ready), per pod. Run it with
// SHOAL_BIN pointing at two builds to compare them.
func TestEngineCallsPerPodStart(t *testing.T) {
	counter, host := startEngineCounter(t)
	a := startAgent(t, "--docker-host", host)
	const n = 10
	time.Sleep(3 * time.Second) // the agent's own start-up calls settle
	before := counter.snapshot()
	a.shoalIn([]byte(deploymentYAML("calls", n, testImage)), "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "pods ready", func() error {
		if r := readyPods(a.pods(t, "default", "app=calls")); r != n {
			return fmt.Errorf("%d ready", r)
		}
		return nil
	})
	after := counter.snapshot()
	total := 0
	var lines []string
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			total += d
			lines = append(lines, fmt.Sprintf("%-40s %6.1f", k, float64(d)/n))
		}
	}
	sort.Strings(lines)
	t.Logf("engine API calls per pod start (%d pods, %s): %.1f\n%s", n, shoalBin(t), float64(total)/n, strings.Join(lines, "\n"))
	if total == 0 {
		t.Fatal("no engine call counted: is the agent using the proxy?")
	}
}
