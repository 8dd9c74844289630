package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/ui/uitest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// BenchmarkObservedAgent measures what watching an agent costs it: the
// agent's CPU (a share of one core, from /proc/PID/stat) and resident
// memory (VmRSS, sampled every second) at rest with 30 pods, with nobody
// watching and then with /metrics scraped every 5 s and the dashboard open
// in a headless chromium on its pods view (its watches live), then with
// nobody again; the quiet figure is the mean of the two quiet windows, so
// that drift shows in neither ratio. Run it (real engine, one agent) with
//
//	SHOAL_TEST_DOCKER=1 SHOAL_BIN=$PWD/bin/shoal go test ./integration -run '^$' -bench ObservedAgent -benchtime 1x
//
// SHOAL_OBSERVE_SECONDS sets each window (default 60).
func BenchmarkObservedAgent(b *testing.B) {
	browserPath := uitest.Chromium(b)
	window := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("SHOAL_OBSERVE_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	a := startAgent(b)
	pid := a.cmd.Process.Pid
	if _, errOut, err := a.shoalIn([]byte(observedDeployment), "apply", "-f", "-"); err != nil {
		b.Fatalf("apply: %v %s", err, errOut)
	}
	poll.Until(b, 3*time.Minute, "30 pods Running", func() error {
		n := 0
		for _, p := range a.pods(b, "default", "app=observed") {
			if p.Status.Phase == api.PodRunning {
				n++
			}
		}
		if n != 30 {
			return fmt.Errorf("%d of 30 Running", n)
		}
		return nil
	})
	time.Sleep(10 * time.Second) // the start's aftermath: first probes, status writes

	for b.Loop() {
		quiet1 := measureAgent(b, pid, window)

		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		hc := a.httpClient(b, "")
		scrapes := 0
		wg.Go(func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				resp, err := hc.Get(a.url() + "/metrics")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						scrapes++
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
		closeBrowser := openDashboard(b, browserPath, a.url()+"/ui/", a.adminConn(b).Token)
		time.Sleep(10 * time.Second) // the page's first lists and watches
		observed := measureAgent(b, pid, window)
		closeBrowser()
		stop()
		wg.Wait()
		if scrapes < int(window/(5*time.Second)) {
			b.Fatalf("only %d scrapes of /metrics answered in %s", scrapes, window)
		}

		time.Sleep(5 * time.Second)
		quiet2 := measureAgent(b, pid, window)
		quietCPU, quietRSS := (quiet1.cpu+quiet2.cpu)/2, (quiet1.rss+quiet2.rss)/2
		b.ReportMetric(quietCPU*100, "quiet-cpu-%")
		b.ReportMetric(observed.cpu*100, "observed-cpu-%")
		b.ReportMetric(observed.cpu/quietCPU, "cpu-ratio")
		b.ReportMetric(quietRSS/(1<<20), "quiet-rss-MiB")
		b.ReportMetric(observed.rss/(1<<20), "observed-rss-MiB")
		b.ReportMetric(observed.rss/quietRSS, "rss-ratio")
		b.Logf("quiet %.2f%% / %.1f MiB, then %.2f%% / %.1f MiB; observed (%d scrapes, dashboard open) %.2f%% / %.1f MiB",
			quiet1.cpu*100, quiet1.rss/(1<<20), quiet2.cpu*100, quiet2.rss/(1<<20), scrapes, observed.cpu*100, observed.rss/(1<<20))
	}
}

const observedDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: observed}
spec:
  replicas: 30
  selector: {matchLabels: {app: observed}}
  template:
    metadata: {labels: {app: observed}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: ` + testImage + `
`

// usage is a process's CPU, as a share of one core, and its mean resident
// memory in bytes over a window.
type usage struct{ cpu, rss float64 }

func measureAgent(b *testing.B, pid int, window time.Duration) usage {
	b.Helper()
	start, t0 := cpuSeconds(b, pid), time.Now()
	var rss float64
	n := 0
	for time.Since(t0) < window {
		time.Sleep(time.Second)
		rss += rssBytes(b, pid)
		n++
	}
	return usage{cpu: (cpuSeconds(b, pid) - start) / time.Since(t0).Seconds(), rss: rss / float64(n)}
}

// cpuSeconds is the user and system CPU time of pid (fields 14 and 15 of
// /proc/PID/stat, after the name in parentheses).
func cpuSeconds(b *testing.B, pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func rssBytes(b *testing.B, pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(s), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}

// openDashboard logs into the dashboard in a headless chromium and shows
// its pods view; the returned func closes the browser.
func openDashboard(b *testing.B, browserPath, base, token string) func() {
	b.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	done := func() { cancel(); cancelAlloc() }
	login, cancelLogin := context.WithTimeout(ctx, 60*time.Second)
	defer cancelLogin()
	for _, step := range []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "#/pods"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
	} {
		if err := chromedp.Do(login, step); err != nil {
			done()
			b.Fatalf("dashboard: %v", err)
		}
	}
	for {
		ok, err := chromedp.Run(login, chromedp.Evaluate[bool](`document.body.dataset.complete === '1'`))
		if err != nil {
			done()
			b.Fatalf("dashboard: %v", err)
		}
		if ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return done
}
