package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// newHTTPClient returns a client with a whole-request timeout. Without
// keep-alives every request opens a new connection, so a service's load
// balancing picks a backend per request rather than per connection.
func newHTTPClient(timeout time.Duration, keepAlive bool, conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = !keepAlive
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{Timeout: timeout, Transport: tr}
}

// fetch GETs url and returns the body; a status of 400 or more is an
// error, returned together with the body.
func fetch(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode >= 400 {
		return body, fmt.Errorf("HTTP %s", resp.Status)
	}
	return body, nil
}

func runGet(args []string) error {
	fs := newFlagSet("get", "URL [--count N] [--timeout 2s] [--cacert FILE] [--bearer-file FILE]")
	count := fs.Int("count", 1, "number of requests; above 1, print a tally of distinct bodies")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout per request")
	caFile := fs.String("cacert", "", "PEM file of the CAs an https server must be signed by")
	bearerFile := fs.String("bearer-file", "", "file holding a bearer token, sent as the Authorization header")
	pos, err := parseExact(fs, args, 1)
	if err != nil {
		return err
	}
	client := newHTTPClient(*timeout, false, 1)
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificate", *caFile)
		}
		client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	if *bearerFile != "" {
		token, err := os.ReadFile(*bearerFile)
		if err != nil {
			return err
		}
		client.Transport = bearer{token: strings.TrimSpace(string(token)), next: client.Transport}
	}
	if *count <= 1 {
		body, err := fetch(client, pos[0])
		stdout.Write(body)
		return err
	}
	t, failed := getMany(client, pos[0], *count)
	writeTally(stdout, t)
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, *count)
	}
	return nil
}

// bearer adds an Authorization header to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// getMany GETs url count times and counts each distinct answer; failures
// are counted under their error so they show in the tally too.
func getMany(client *http.Client, url string, count int) (map[string]int, int) {
	t := make(map[string]int)
	failed := 0
	for range count {
		body, err := fetch(client, url)
		if err != nil {
			failed++
			t["error: "+err.Error()]++
			continue
		}
		t[tallyKey(body)]++
	}
	return t, failed
}

// tallyKey keeps each body on one tally line.
func tallyKey(body []byte) string {
	return strings.ReplaceAll(strings.TrimSpace(string(body)), "\n", `\n`)
}

// writeTally prints "N body" lines, most frequent first, then by body.
func writeTally(w io.Writer, t map[string]int) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if t[keys[i]] != t[keys[j]] {
			return t[keys[i]] > t[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "%d %s\n", t[k], k)
	}
}

// loadResult is the single JSON line printed by "load".
type loadResult struct {
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
}

func runLoad(args []string) error {
	fs := newFlagSet("load", "URL [--duration 5s] [--concurrency 8] [--timeout 2s] [--new-connections]")
	duration := fs.Duration("duration", 5*time.Second, "how long to send requests")
	concurrency := fs.Int("concurrency", 8, "number of parallel clients")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout per request")
	fresh := fs.Bool("new-connections", false, "a new TCP connection for every request")
	pos, err := parseExact(fs, args, 1)
	if err != nil {
		return err
	}
	if *concurrency < 1 {
		return usageError(fs, "--concurrency must be at least 1")
	}
	client := newHTTPClient(*timeout, !*fresh, *concurrency)
	res := loadTest(context.Background(), client, pos[0], *duration, *concurrency)
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if res.Requests == res.Errors {
		return fmt.Errorf("no request succeeded")
	}
	return nil
}

// loadTest runs workers that send requests back to back until the
// duration is over; requests in flight at the end are allowed to finish.
func loadTest(ctx context.Context, client *http.Client, url string, duration time.Duration, workers int) loadResult {
	start := time.Now()
	deadline := start.Add(duration)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			myErrs := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := drain(client, url); err != nil {
					myErrs++
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errs += myErrs
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(url, workers, time.Since(start), latencies, errs)
}

// drain GETs url and discards the body so the connection can be reused.
func drain(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

func summarize(url string, workers int, elapsed time.Duration, lat []time.Duration, errs int) loadResult {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := loadResult{
		URL:         url,
		Concurrency: workers,
		Seconds:     round3(elapsed.Seconds()),
		Requests:    len(lat),
		Errors:      errs,
		P50ms:       millis(percentile(lat, 0.50)),
		P99ms:       millis(percentile(lat, 0.99)),
	}
	if len(lat) > 0 {
		res.MaxMs = millis(lat[len(lat)-1])
	}
	if elapsed > 0 {
		res.RPS = round3(float64(len(lat)) / elapsed.Seconds())
	}
	return res
}

// percentile returns the nearest-rank percentile p (0..1) of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func millis(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
