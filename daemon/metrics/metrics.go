package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets of the latency histograms, in seconds, by how long the thing
// measured usually takes.
var (
	// requestBuckets: API requests and engine calls (milliseconds to seconds).
	requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// dnsBuckets: DNS answers (tens of microseconds, more when forwarded).
	dnsBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// startBuckets: pod starts (an image copy or pull can take minutes).
	startBuckets = []float64{.1, .25, .5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300}
)

// Metrics is one agent's metrics. Its methods are safe for concurrent use;
// the observer methods never block and allocate only the first time a
// label combination is seen.
type Metrics struct {
	reg *prometheus.Registry

	api *apiMetrics
	dns *dnsMetrics

	storeWrites, storePersistErrors prometheus.Counter
	storePersist                    prometheus.Histogram

	podStarts, containerRestarts prometheus.Counter
	podStartDuration             prometheus.Histogram
	podStartSteps                *prometheus.HistogramVec
	engineDuration               *prometheus.HistogramVec
	engineErrors                 *prometheus.CounterVec

	controllerSync       *prometheus.HistogramVec
	controllerSyncErrors *prometheus.CounterVec
	schedAttempts        *prometheus.CounterVec
	schedDuration        prometheus.Histogram

	proxySync, proxyLatency               prometheus.Histogram
	proxySyncErrors                       prometheus.Counter
	proxyRules, proxyChains, proxyService prometheus.Gauge

	// engineOps caches the series of each engine operation: the observer
	// is called on every engine call.
	engineMu  sync.RWMutex
	engineOps map[string]engineSeries
	// steps caches the series of each pod start step.
	stepMu sync.RWMutex
	steps  map[string]prometheus.Observer
	// controllers caches the series of each controller.
	ctrlMu      sync.RWMutex
	controllers map[string]prometheus.Observer

	sources *sources
}

type engineSeries struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// New makes the metrics of one agent, with the Go runtime's and the
// process's collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, engineOps: map[string]engineSeries{}, controllers: map[string]prometheus.Observer{}, steps: map[string]prometheus.Observer{}}
	f := factory{reg}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.api = newAPIMetrics(f)
	m.dns = newDNSMetrics(f)

	m.storeWrites = f.counter("shoal_store_writes_total", "Records written to the local store's disk (local writes and records from other agents).")
	m.storePersistErrors = f.counter("shoal_store_persist_errors_total", "Commits of the local store that failed to reach the disk (nothing of them was stored).")
	m.storePersist = f.histogram("shoal_store_persist_duration_seconds", "Time to write one commit (a batch of records) of the local store to disk.", requestBuckets)

	m.podStarts = f.counter("shoal_pod_starts_total", "Pods of this node that reached phase Running.")
	m.podStartDuration = f.histogram("shoal_pod_start_duration_seconds",
		"Time from this node's runner taking a pod to the pod running (sandbox, images, volumes, containers).", startBuckets)
	m.podStartSteps = f.histogramVec("shoal_pod_start_step_duration_seconds",
		"Time of each step of a pod's first start on this node (sandbox create and start, wiring, app create and start, status write), by step.", requestBuckets, "step")
	m.containerRestarts = f.counter("shoal_container_restarts_total", "Containers of this node's pods restarted after they ended.")
	m.engineDuration = f.histogramVec("shoal_engine_request_duration_seconds", "Time of calls to the container engine, by operation.", requestBuckets, "operation")
	m.engineErrors = f.counterVec("shoal_engine_errors_total", "Calls to the container engine that failed, by operation (a missing object is no failure).", "operation")

	m.controllerSync = f.histogramVec("shoal_controller_sync_duration_seconds", "Time of one sync of one key, by controller (leader only).", requestBuckets, "controller")
	m.controllerSyncErrors = f.counterVec("shoal_controller_sync_errors_total", "Syncs that failed and were queued again with back-off, by controller.", "controller")
	m.schedAttempts = f.counterVec("shoal_scheduler_attempts_total", "Attempts to place a pod, by result (scheduled, unschedulable, error).", "result")
	m.schedDuration = f.histogram("shoal_scheduler_attempt_duration_seconds", "Time to decide where one pod goes.", requestBuckets)

	m.proxySync = f.histogram("shoal_proxy_sync_duration_seconds", "Time of one sync of the service proxy's rules (building and installing them).", requestBuckets)
	m.proxyLatency = f.histogram("shoal_proxy_change_to_rules_seconds",
		"Time from a Service or endpoint change reaching the service proxy to its rules being installed.", requestBuckets)
	m.proxySyncErrors = f.counter("shoal_proxy_sync_errors_total", "Syncs of the service proxy's rules that failed.")
	m.proxyRules = f.gauge("shoal_proxy_rules", "Rules in the service proxy's chains after the last sync.")
	m.proxyChains = f.gauge("shoal_proxy_chains", "Chains of the service proxy after the last sync.")
	m.proxyService = f.gauge("shoal_proxy_service_ports", "Service ports the service proxy has rules for after the last sync.")

	m.sources = newSources()
	reg.MustRegister(m.sources)
	return m
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics
// when asked for). A failing collector is reported in the answer, not
// fatal.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4})
}

// Registry is the agent's registry, for tests that gather directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObservePersist records one commit of the store: the records it wrote and
// how long the disk took.
func (m *Metrics) ObservePersist(records int, took time.Duration, err error) {
	if err != nil {
		m.storePersistErrors.Inc()
		return
	}
	m.storeWrites.Add(float64(records))
	m.storePersist.Observe(took.Seconds())
}

// PodStarted records a pod of this node reaching phase Running, took after
// its runner took it.
func (m *Metrics) PodStarted(took time.Duration) {
	m.podStarts.Inc()
	m.podStartDuration.Observe(took.Seconds())
}

// PodStartStep records one step of a pod's first start.
func (m *Metrics) PodStartStep(step string, took time.Duration) {
	m.stepMu.RLock()
	o, ok := m.steps[step]
	m.stepMu.RUnlock()
	if !ok {
		m.stepMu.Lock()
		if o, ok = m.steps[step]; !ok {
			o = m.podStartSteps.WithLabelValues(step)
			m.steps[step] = o
		}
		m.stepMu.Unlock()
	}
	o.Observe(took.Seconds())
}

// ContainerRestarted records a container started again after it ended.
func (m *Metrics) ContainerRestarted() { m.containerRestarts.Inc() }

// ObserveEngineCall records one engine call; failed says it failed for
// another reason than a missing object.
func (m *Metrics) ObserveEngineCall(operation string, took time.Duration, failed bool) {
	m.engineMu.RLock()
	s, ok := m.engineOps[operation]
	m.engineMu.RUnlock()
	if !ok {
		m.engineMu.Lock()
		if s, ok = m.engineOps[operation]; !ok {
			s = engineSeries{duration: m.engineDuration.WithLabelValues(operation), errors: m.engineErrors.WithLabelValues(operation)}
			m.engineOps[operation] = s
		}
		m.engineMu.Unlock()
	}
	s.duration.Observe(took.Seconds())
	if failed {
		s.errors.Inc()
	}
}

// ObserveSync records one sync of a controller.
func (m *Metrics) ObserveSync(controller string, took time.Duration, err error) {
	m.ctrlMu.RLock()
	o, ok := m.controllers[controller]
	m.ctrlMu.RUnlock()
	if !ok {
		m.ctrlMu.Lock()
		if o, ok = m.controllers[controller]; !ok {
			o = m.controllerSync.WithLabelValues(controller)
			m.controllers[controller] = o
			m.controllerSyncErrors.WithLabelValues(controller) // a zero series from the start
		}
		m.ctrlMu.Unlock()
	}
	o.Observe(took.Seconds())
	if err != nil {
		m.controllerSyncErrors.WithLabelValues(controller).Inc()
	}
}

// Scheduling results, the values of shoal_scheduler_attempts_total's label.
const (
	ScheduleScheduled     = "scheduled"
	ScheduleUnschedulable = "unschedulable"
	ScheduleError         = "error"
)

// ObserveAttempt records one scheduling attempt and its result (one of the
// Schedule constants).
func (m *Metrics) ObserveAttempt(result string, took time.Duration) {
	switch result {
	case ScheduleScheduled, ScheduleUnschedulable:
	default:
		result = ScheduleError
	}
	m.schedAttempts.WithLabelValues(result).Inc()
	m.schedDuration.Observe(took.Seconds())
}

// ObserveProxySync records one sync of the service proxy and what its
// rules hold after it; latency is from the first change it carries to its
// rules being installed (0: it carried none).
func (m *Metrics) ObserveProxySync(took, latency time.Duration, servicePorts, chains, rules int, err error) {
	if err != nil {
		m.proxySyncErrors.Inc()
		return
	}
	m.proxySync.Observe(took.Seconds())
	if latency > 0 {
		m.proxyLatency.Observe(latency.Seconds())
	}
	m.proxyService.Set(float64(servicePorts))
	m.proxyChains.Set(float64(chains))
	m.proxyRules.Set(float64(rules))
}

// factory registers the families it makes.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// codeLabel is a status code as a label value.
func codeLabel(code int) string { return strconv.Itoa(code) }
