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
	series map[apiKey]apiSeries
}

type apiKey struct {
	verb, resource string
	code           int
}

// apiSeries are the series of one label combination; duration is nil
// until a timed request of it was seen (watches are never timed, and get
// no empty histogram).
type apiSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func newAPIMetrics(f factory) *apiMetrics {
	return &apiMetrics{
		requests: f.counterVec("shoal_api_requests_total",
			"API requests answered, by verb, resource (\"\" for a path that names none) and HTTP status code.", "verb", "resource", "code"),
		duration: f.histogramVec("shoal_api_request_duration_seconds",
			"Time to answer an API request, by verb and resource; watches and streams (logs, exec, attach, port-forward) are left out.",
			requestBuckets, "verb", "resource"),
		series: map[apiKey]apiSeries{},
	}
}

// ObserveRequest records one API request. verb and resource must come from
// fixed sets (the server's verbs, the kind registry's resources and
// subresources): they are labels. timed is false for long-lived requests,
// whose duration says nothing of the server's speed.
func (m *Metrics) ObserveRequest(verb, resource string, code int, took time.Duration, timed bool) {
	a := m.api
	k := apiKey{verb, resource, code}
	a.mu.RLock()
	s, ok := a.series[k]
	a.mu.RUnlock()
	if !ok || timed && s.duration == nil {
		s = a.make(k, timed)
	}
	s.count.Inc()
	if timed {
		s.duration.Observe(took.Seconds())
	}
}

// make makes (once) the series of a label combination.
func (a *apiMetrics) make(k apiKey, timed bool) apiSeries {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.series[k]
	if !ok {
		s.count = a.requests.WithLabelValues(k.verb, k.resource, codeLabel(k.code))
	}
	if timed && s.duration == nil {
		s.duration = a.duration.WithLabelValues(k.verb, k.resource)
	}
	a.series[k] = s
	return s
}
