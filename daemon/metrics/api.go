package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are the API server's request counts and latencies. The series
// of each label combination are cached: the request path takes a read
// lock and a map lookup, and allocates nothing once the combination has
// been seen.
type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.RWMutex
	counts map[apiCountKey]prometheus.Counter
	times  map[apiTimeKey]prometheus.Observer
}

type apiCountKey struct {
	verb, resource string
	code           int
}

type apiTimeKey struct{ verb, resource string }

func newAPIMetrics(f factory) *apiMetrics {
	return &apiMetrics{
		requests: f.counterVec("shoal_api_requests_total",
			"API requests answered, by verb, resource (\"\" for a path that names none) and HTTP status code.", "verb", "resource", "code"),
		duration: f.histogramVec("shoal_api_request_duration_seconds",
			"Time to answer an API request, by verb and resource; watches and streams (logs, exec, attach, port-forward) are left out.",
			requestBuckets, "verb", "resource"),
		counts: map[apiCountKey]prometheus.Counter{}, times: map[apiTimeKey]prometheus.Observer{},
	}
}

// ObserveRequest records one API request. verb and resource must come from
// fixed sets (the server's verbs, the kind registry's resources and
// subresources): they are labels. timed is false for long-lived requests,
// whose duration says nothing of the server's speed.
func (m *Metrics) ObserveRequest(verb, resource string, code int, took time.Duration, timed bool) {
	a := m.api
	ck := apiCountKey{verb, resource, code}
	a.mu.RLock()
	c, ok := a.counts[ck]
	a.mu.RUnlock()
	if !ok {
		c = a.counter(ck)
	}
	c.Inc()
	if !timed {
		return
	}
	tk := apiTimeKey{verb, resource}
	a.mu.RLock()
	o, ok := a.times[tk]
	a.mu.RUnlock()
	if !ok {
		o = a.observer(tk)
	}
	o.Observe(took.Seconds())
}

// counter makes (once) the counter of a label combination.
func (a *apiMetrics) counter(k apiCountKey) prometheus.Counter {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.counts[k]
	if !ok {
		c = a.requests.WithLabelValues(k.verb, k.resource, codeLabel(k.code))
		a.counts[k] = c
	}
	return c
}

// observer makes (once) the histogram of a label combination.
func (a *apiMetrics) observer(k apiTimeKey) prometheus.Observer {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.times[k]
	if !ok {
		o = a.duration.WithLabelValues(k.verb, k.resource)
		a.times[k] = o
	}
	return o
}
