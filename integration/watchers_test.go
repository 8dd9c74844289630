package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// agentWatchStats is what /shoal/v1/agent says of watches and the informer.
type agentWatchStats struct {
	Informer map[string]struct {
		Objects   int    `json:"objects"`
		Events    uint64 `json:"events"`
		Listeners int    `json:"listeners"`
	} `json:"informer"`
	Watches struct {
		Subscriptions int    `json:"subscriptions"`
		Overflowed    uint64 `json:"subscriptionsOverflowed"`
		HistoryBytes  int    `json:"historyBytes"`
		APIOpen       int    `json:"apiOpen"`
		APICutSlow    uint64 `json:"apiCutSlow"`
		APIExpired    uint64 `json:"apiExpired"`
		ByResource    map[string]struct {
			Open    int64  `json:"open"`
			Decodes uint64 `json:"decodes"`
		} `json:"byResource"`
	} `json:"watches"`
}

func readAgentWatchStats(t *testing.T, a *agent) agentWatchStats {
	t.Helper()
	resp, err := rawRequest(a, "GET", "/shoal/v1/agent", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body := readAnswer(resp)
	if code != http.StatusOK {
		t.Fatalf("/shoal/v1/agent: %d %s", code, body)
	}
	var s agentWatchStats
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/shoal/v1/agent: %v: %s", err, body)
	}
	return s
}

// stalledClient is an HTTPS client whose connections have a tiny receive
// buffer: a watch it never reads backs up into the agent quickly.
func stalledClient(t *testing.T, a *agent) *http.Client {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(a.caFile())
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 0, MaxIdleConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4 << 10)
			}
			return c, err
		},
	}}
}

// TestSlowWatchersAreClosedAndCostLittle: 500 watches that never read
// while 5,000 objects are written. The agent's RSS stays under 150 MiB,
// every stalled watch is closed and counted, and every other client is
// served: GETs answer within seconds, a watch that reads sees every write,
// and the agent's own consumers (one informer) decode each change once.
func TestSlowWatchersAreClosedAndCostLittle(t *testing.T) {
	a := startAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pid := a.cmd.Process.Pid

	// Five identities: one client may hold 100 watches.
	const identities, watchers, objects = 5, 500, 5000
	tokens := make([]string, identities)
	for i := range tokens {
		tokens[i] = strings.TrimSpace(a.shoal("token", "create", fmt.Sprintf("slow-%d", i), "--role", "view"))
	}
	before := readAgentWatchStats(t, a)
	baseRSS := vmRSS(pid)

	// The stalled watchers: each reads the answer's header, never a byte
	// of the stream.
	stalled := stalledClient(t, a)
	var opened atomic.Int32
	var bodies sync.Map
	var wg sync.WaitGroup
	for i := range watchers {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", a.url()+"/api/v1/namespaces/default/configmaps?watch=true", nil)
			req.Header.Set("Authorization", "Bearer "+tokens[i%identities])
			resp, err := stalled.Do(req)
			if err != nil {
				t.Errorf("watch %d: %v", i, err)
				return
			}
			if resp.StatusCode != http.StatusOK {
				code, body := readAnswer(resp)
				t.Errorf("watch %d: %d %s", i, code, body)
				return
			}
			opened.Add(1)
			bodies.Store(i, resp.Body)
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		bodies.Range(func(_, b any) bool { b.(io.Closer).Close(); return true })
	})
	if opened.Load() != watchers {
		t.Fatalf("%d of %d watches opened", opened.Load(), watchers)
	}
	poll.True(t, 30*time.Second, "the agent holds every watch", func() (bool, string) {
		s := readAgentWatchStats(t, a)
		return s.Watches.APIOpen >= watchers, fmt.Sprint(s.Watches.APIOpen)
	})

	t.Logf("with %d stalled watches open: %s", watchers, rssParts(pid))

	// A well-behaved client watches too, and reads everything.
	var seen atomic.Int32
	resp, err := rawRequestContext(ctx, a, "GET", "/api/v1/namespaces/default/configmaps?watch=true", nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the reading watch: %v %v", resp, err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"ADDED"`) {
				seen.Add(1)
			}
		}
	}()

	// Sample RSS and time GETs from another client throughout.
	mem := watchMemory(t, a)
	value := strings.Repeat("x", 900) // ~1 KiB an event: 5 MiB a watcher, beyond any socket buffer
	var writeErrs atomic.Int32
	writes := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range writes {
				cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("cm-%05d", i)}, Data: map[string]string{"v": value}}
				if _, err := a.client.Create(ctx, api.KindConfigMap, "default", cm); err != nil {
					if writeErrs.Add(1) <= 5 {
						t.Errorf("create %d: %v", i, err)
					}
				}
			}
		})
	}
	start := time.Now()
	for i := range objects {
		writes <- i
	}
	close(writes)
	wg.Wait()
	t.Logf("%d objects written in %v with %d stalled watches; %s", objects, time.Since(start).Round(time.Millisecond), watchers, rssParts(pid))

	// The stalled watches are cut (a write that makes no progress for the
	// stream write timeout, 30 s) and counted.
	poll.True(t, 2*time.Minute, "every stalled watch closed and counted", func() (bool, string) {
		s := readAgentWatchStats(t, a)
		closed := (s.Watches.APICutSlow - before.Watches.APICutSlow) + (s.Watches.APIExpired - before.Watches.APIExpired)
		return closed >= watchers && s.Watches.APIOpen <= 1,
			fmt.Sprintf("closed %d (cut %d, expired %d), open %d", closed, s.Watches.APICutSlow, s.Watches.APIExpired, s.Watches.APIOpen)
	})
	close(mem.stop)
	<-mem.done
	peak, slowest := mem.maxRSS.Load(), time.Duration(mem.slowest.Load())
	t.Logf("agent RSS: %d MiB before the watches, at most %d MiB throughout; slowest GET %v",
		baseRSS>>10, peak>>10, slowest.Round(time.Millisecond))
	if peak > 150<<10 {
		t.Errorf("the agent's RSS reached %d MiB (limit 150 MiB)", peak>>10)
	}
	if f, _ := mem.getFailed.Load().(string); f != "" {
		t.Errorf("a GET failed while the watchers stalled: %s", f)
	}
	if slowest > 5*time.Second {
		t.Errorf("a GET took %v while the watchers stalled", slowest)
	}

	// The reading watch saw every object.
	poll.True(t, 30*time.Second, "the reading watch sees every write", func() (bool, string) {
		return seen.Load() >= objects, fmt.Sprint(seen.Load())
	})
	cancel()
	<-readerDone

	// The agent's own consumers read one informer: one registry watch of
	// ConfigMaps once the API's are gone, and the API's watchers shared
	// the decoding of each change with it.
	poll.True(t, 30*time.Second, "only the informer's watch of configmaps is left", func() (bool, string) {
		s := readAgentWatchStats(t, a)
		return s.Watches.ByResource["configmaps"].Open == 1, fmt.Sprintf("%+v", s.Watches.ByResource["configmaps"])
	})
	after := readAgentWatchStats(t, a)
	cm := after.Watches.ByResource["configmaps"]
	inf := after.Informer["configmaps"]
	t.Logf("configmaps: %d informer events, %d objects decoded by watches; pods: %+v; informer: %+v",
		inf.Events, cm.Decodes, after.Watches.ByResource["pods"], after.Informer["pods"])
	if cm.Open != 1 {
		t.Errorf("%d registry watches of configmaps remain open, want the informer's one", cm.Open)
	}
	if pods := after.Watches.ByResource["pods"]; pods.Open != 1 {
		t.Errorf("%d registry watches of pods are open, want the informer's one", pods.Open)
	}
	// 501 API watches and the informer saw each change: without sharing,
	// over 500 decodes a change.
	if float64(cm.Decodes) > 1.5*float64(objects) {
		t.Errorf("%d configmaps decoded %d times for %d watches: want about once each", objects, cm.Decodes, watchers+2)
	}
	if inf.Events < objects || inf.Objects < objects {
		t.Errorf("the informer took %d events and holds %d configmaps, want %d", inf.Events, inf.Objects, objects)
	}
}

// TestAgentDecodesEachPodChangeOnce: a Deployment runs, scales and goes;
// every consumer of pods on the agent (controllers, scheduler, runner,
// DNS) reads the one informer, so the registry decodes each change of a
// pod once for all of them, where each used to decode it in a watch of its
// own.
func TestAgentDecodesEachPodChangeOnce(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(deploymentYAML("once", 3, testImage)), "apply", "-f", "-")
	poll.True(t, 90*time.Second, "3 pods ready", func() (bool, string) {
		n := readyPods(a.pods(t, "default", "app=once"))
		return n == 3, fmt.Sprint(n)
	})
	a.shoal("scale", "deployment", "once", "--replicas", "1")
	poll.True(t, 60*time.Second, "scaled to 1", func() (bool, string) {
		n := len(a.pods(t, "default", "app=once"))
		return n == 1, fmt.Sprint(n)
	})
	s := readAgentWatchStats(t, a)
	pods, inf := s.Watches.ByResource["pods"], s.Informer["pods"]
	t.Logf("pods: %d changes taken by the informer, %d decoded by the registry's watches, %d consumers of the informer",
		inf.Events, pods.Decodes, inf.Listeners)
	if pods.Open != 1 {
		t.Errorf("%d registry watches of pods are open, want the informer's one", pods.Open)
	}
	if inf.Listeners < 4 {
		t.Errorf("%d consumers follow pods through the informer, want the controllers, scheduler, runner and DNS", inf.Listeners)
	}
	if inf.Events < 10 || float64(pods.Decodes) > 1.1*float64(inf.Events)+5 {
		t.Errorf("%d pod changes decoded %d times: want about once each", inf.Events, pods.Decodes)
	}
}

// rssParts tells a process's resident memory in its parts (anonymous:
// the heap and stacks; file: mapped files such as the store's database).
func rssParts(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, f := range []string{"VmRSS:", "RssAnon:", "RssFile:", "Threads:"} {
			if v, ok := strings.CutPrefix(line, f); ok {
				parts = append(parts, f+" "+strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(parts, ", ")
}
