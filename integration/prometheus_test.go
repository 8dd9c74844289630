package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/metrics"
	"github.com/shoal-dev/shoal/internal/poll"
)

const metricsPod = `apiVersion: v1
kind: Pod
metadata: {name: counted}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ` + testImage + `
`

// scrapeMetrics GETs /metrics with hc and parses it with Prometheus' text
// parser.
func scrapeMetrics(t *testing.T, hc *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v", err)
	}
	return fams
}

// sample sums a family's series that carry these labels (a histogram's
// sample count).
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// /metrics on a real agent: it parses, serves every family, and its
// counters move when a pod starts, a DNS question is answered and a request
// finds nothing; a view or shoal:metrics token reads it, a token with a
// role in one namespace only gets 403, no token 401.
func TestPrometheusMetricsParseCoverEveryFamilyAndMove(t *testing.T) {
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAgent(t, "--dns-addr", dnsAddr)
	hc := a.httpClient(t, "")
	before := scrapeMetrics(t, hc, a.url())

	// A pod start, a DNS question, a 404.
	if _, errOut, err := a.shoalIn([]byte(metricsPod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	poll.Until(t, 60*time.Second, "pod counted Running", func() error {
		if p := a.pods(t, "default", ""); len(p) != 1 || p[0].Status.Phase != api.PodRunning {
			return fmt.Errorf("pods %d", len(p))
		}
		return nil
	})
	q := new(mdns.Msg)
	q.SetQuestion("kubernetes.default.svc.cluster.local.", mdns.TypeA)
	poll.Until(t, 30*time.Second, "DNS answers", func() error {
		in, err := mdns.Exchange(q, dnsAddr)
		if err != nil {
			return err
		}
		if in.Rcode != mdns.RcodeSuccess {
			return fmt.Errorf("rcode %s", mdns.RcodeToString[in.Rcode])
		}
		return nil
	})
	resp, err := hc.Get(a.url() + "/api/v1/namespaces/default/pods/no-such-pod")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of a missing pod: %d", resp.StatusCode)
	}

	var after map[string]*dto.MetricFamily
	poll.Until(t, 30*time.Second, "counters moved", func() error {
		after = scrapeMetrics(t, hc, a.url())
		for _, c := range []struct {
			what   string
			name   string
			labels []string
		}{
			{"pod starts", "shoal_pod_starts_total", nil},
			{"pod start latencies", "shoal_pod_start_duration_seconds", nil},
			{"A questions answered NOERROR", "shoal_dns_queries_total", []string{"type", "A", "rcode", "NOERROR"}},
			{"DNS latencies", "shoal_dns_request_duration_seconds", nil},
			{"404s of GET pods", "shoal_api_requests_total", []string{"verb", "get", "resource", "pods", "code", "404"}},
			{"container creates", "shoal_engine_request_duration_seconds", []string{"operation", "container_create"}},
			{"store writes", "shoal_store_writes_total", nil},
			{"scheduled pods", "shoal_scheduler_attempts_total", []string{"result", "scheduled"}},
		} {
			if b, n := sample(before, c.name, c.labels...), sample(after, c.name, c.labels...); n <= b {
				return fmt.Errorf("%s (%s%v) did not move: %v before, %v after", c.what, c.name, c.labels, b, n)
			}
		}
		return nil
	})
	var missing []string
	for _, name := range append(metrics.Families, "go_memstats_alloc_bytes", "process_cpu_seconds_total") {
		if after[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("families missing from /metrics: %v", missing)
	}
	if n := sample(after, "shoal_gossip_members", "state", "alive"); n != 1 {
		t.Errorf("alive members %v, want 1", n)
	}
	t.Logf("%d families; pod start %.3fs; DNS A answers %v", len(after),
		histogramMean(after, "shoal_pod_start_duration_seconds"), sample(after, "shoal_dns_queries_total", "type", "A"))

	// Who may read it.
	token := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(a.shoal(append([]string{"token", "create"}, args...)...))
	}
	a.shoal("create", "namespace", "team")
	for _, c := range []struct {
		who   string
		token string
		want  int
	}{
		{"a view token", token("viewer", "--role", "view"), http.StatusOK},
		{"a shoal:metrics token", token("prometheus", "--role", "shoal:metrics"), http.StatusOK},
		{"an admin token of one namespace", token("team-admin", "--role", "admin", "-n", "team"), http.StatusForbidden},
	} {
		resp, err := a.httpClient(t, c.token).Get(a.url() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: /metrics answered %d, want %d: %.200s", c.who, resp.StatusCode, c.want, b)
		}
	}
	resp, err = a.httpClient(t, "no-such-token").Get(a.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a stranger's token: /metrics answered %d, want 401", resp.StatusCode)
	}
	anon := &http.Client{Timeout: 10 * time.Second, Transport: a.httpClient(t, "").Transport.(*bearer).next}
	resp, err = anon.Get(a.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: /metrics answered %d, want 401", resp.StatusCode)
	}
}

// histogramMean is a histogram family's mean observation.
func histogramMean(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil || len(f.Metric) == 0 || f.Metric[0].Histogram == nil || f.Metric[0].Histogram.GetSampleCount() == 0 {
		return 0
	}
	h := f.Metric[0].Histogram
	return h.GetSampleSum() / float64(h.GetSampleCount())
}
