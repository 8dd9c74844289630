package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/leader/controller"
	"github.com/shoal-dev/shoal/daemon/leader/scheduler"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/ingress"
	"github.com/shoal-dev/shoal/daemon/node/runtime"
	"github.com/shoal-dev/shoal/dns"
	"github.com/shoal-dev/shoal/gossip"
)

// The observers the subsystems declare, all implemented here.
var (
	_ server.RequestObserver = (*Metrics)(nil)
	_ dns.Observer           = (*Metrics)(nil)
	_ runtime.Observer       = (*Metrics)(nil)
	_ engine.Observer        = (*Metrics)(nil)
	_ controller.Observer    = (*Metrics)(nil)
	_ scheduler.Observer     = (*Metrics)(nil)
)

// scrape serves the metrics and parses them with Prometheus' text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the sample of a family's series with these labels (a
// histogram's count), or -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
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
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestEveryFamilyIsServedAndMovesWithItsEvent(t *testing.T) {
	m := New()
	m.SetGossip(func() gossip.Stats {
		return gossip.Stats{MessagesReceived: 7, BroadcastsSent: 2, Pushes: 1, StreamBytesIn: 100, PacketBytesSent: 50, StreamBytesOut: 25,
			SyncRounds: 3, RecordsPulled: 4, Refused: 5, Dropped: 6}
	}, func() []gossip.Member {
		return []gossip.Member{{Name: "a", State: gossip.StateAlive}, {Name: "b", State: gossip.StateAlive}, {Name: "c", State: gossip.StateDead}}
	}, func() int { return 42 })
	m.AddQueues(func(yield func(string, int)) { yield("replicaset", 3) })
	m.SetIngress(func() ingress.Stats { return ingress.Stats{Responses2xx: 9, Responses5xx: 1, UpstreamErrors: 1} })

	m.ObserveRequest("get", "pods", 200, time.Millisecond, true)
	m.ObserveRequest("get", "pods", 404, time.Millisecond, true)
	m.ObserveRequest("watch", "pods", 200, time.Hour, false)
	m.ObservePersist(3, time.Millisecond, nil)
	m.ObservePersist(1, time.Millisecond, errors.New("disk full"))
	m.PodStarted(2 * time.Second)
	m.PodStartStep("sandbox_start", 80*time.Millisecond)
	m.PodStartStep("sandbox_start", 90*time.Millisecond)
	m.PodStartStep("wire", 5*time.Millisecond)
	m.ContainerRestarted()
	m.ObserveEngineCall("container_create", 20*time.Millisecond, false)
	m.ObserveEngineCall("container_create", 20*time.Millisecond, true)
	m.ObserveSync("replicaset", time.Millisecond, nil)
	m.ObserveSync("replicaset", time.Millisecond, errors.New("conflict"))
	m.ObserveAttempt(ScheduleScheduled, time.Millisecond)
	m.ObserveAttempt("bogus", time.Millisecond)
	m.ObserveQuery(1, 0, 100*time.Microsecond)
	m.ObserveQuery(28, 3, 100*time.Microsecond)
	m.ObserveQuery(999, 99, 100*time.Microsecond) // outside the fixed sets
	m.ObserveProxySync(5*time.Millisecond, 40*time.Millisecond, 4, 10, 30, nil)
	m.ObserveProxySync(5*time.Millisecond, 0, 4, 10, 30, nil) // a resync that carried no change
	m.ObserveProxySync(time.Millisecond, 0, 0, 0, 0, errors.New("iptables-restore failed"))

	fams := scrape(t, m)
	for _, name := range Families {
		if fams[name] == nil {
			t.Errorf("family %s is not served", name)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"shoal_api_requests_total", []string{"verb", "get", "resource", "pods", "code", "200"}, 1},
		{"shoal_api_requests_total", []string{"verb", "get", "resource", "pods", "code", "404"}, 1},
		{"shoal_api_requests_total", []string{"verb", "watch", "resource", "pods", "code", "200"}, 1},
		{"shoal_api_request_duration_seconds", []string{"verb", "get", "resource", "pods"}, 2},
		{"shoal_api_request_duration_seconds", []string{"verb", "watch"}, -1}, // streams are not timed
		{"shoal_store_records", nil, 42},
		{"shoal_store_writes_total", nil, 3},
		{"shoal_store_persist_errors_total", nil, 1},
		{"shoal_store_persist_duration_seconds", nil, 1},
		{"shoal_gossip_members", []string{"state", "alive"}, 2},
		{"shoal_gossip_members", []string{"state", "dead"}, 1},
		{"shoal_gossip_members", []string{"state", "left"}, 0},
		{"shoal_gossip_messages_received_total", nil, 7},
		{"shoal_gossip_messages_sent_total", nil, 3},
		{"shoal_gossip_bytes_received_total", nil, 100},
		{"shoal_gossip_bytes_sent_total", nil, 75},
		{"shoal_gossip_anti_entropy_rounds_total", nil, 3},
		{"shoal_gossip_records_repaired_total", nil, 4},
		{"shoal_gossip_records_refused_total", nil, 5},
		{"shoal_pod_starts_total", nil, 1},
		{"shoal_pod_start_duration_seconds", nil, 1},
		{"shoal_pod_start_step_duration_seconds", []string{"step", "sandbox_start"}, 2},
		{"shoal_pod_start_step_duration_seconds", []string{"step", "wire"}, 1},
		{"shoal_container_restarts_total", nil, 1},
		{"shoal_engine_request_duration_seconds", []string{"operation", "container_create"}, 2},
		{"shoal_engine_errors_total", []string{"operation", "container_create"}, 1},
		{"shoal_workqueue_depth", []string{"name", "replicaset"}, 3},
		{"shoal_controller_sync_duration_seconds", []string{"controller", "replicaset"}, 2},
		{"shoal_controller_sync_errors_total", []string{"controller", "replicaset"}, 1},
		{"shoal_scheduler_attempts_total", []string{"result", "scheduled"}, 1},
		{"shoal_scheduler_attempts_total", []string{"result", "error"}, 1},
		{"shoal_dns_queries_total", []string{"type", "A", "rcode", "NOERROR"}, 1},
		{"shoal_dns_queries_total", []string{"type", "AAAA", "rcode", "NXDOMAIN"}, 1},
		{"shoal_dns_queries_total", []string{"type", "OTHER", "rcode", "OTHER"}, 1},
		{"shoal_dns_request_duration_seconds", nil, 3},
		{"shoal_proxy_sync_duration_seconds", nil, 2},
		{"shoal_proxy_change_to_rules_seconds", nil, 1},
		{"shoal_proxy_sync_errors_total", nil, 1},
		{"shoal_proxy_rules", nil, 30},
		{"shoal_ingress_requests_total", []string{"code", "2xx"}, 9},
		{"shoal_ingress_requests_total", []string{"code", "5xx"}, 1},
		{"shoal_ingress_upstream_errors_total", nil, 1},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// Two agents in one process keep their metrics apart.
func TestEachAgentHasItsOwnRegistry(t *testing.T) {
	a, b := New(), New()
	a.PodStarted(time.Second)
	if got := value(scrape(t, b), "shoal_pod_starts_total"); got != 0 {
		t.Fatalf("the other agent's pod start shows: %v", got)
	}
	if got := value(scrape(t, a), "shoal_pod_starts_total"); got != 1 {
		t.Fatalf("pod starts %v, want 1", got)
	}
}

// The hot paths allocate nothing once a label combination has been seen.
func TestObserversAllocateNothingOnceWarm(t *testing.T) {
	m := New()
	for name, fn := range map[string]func(){
		"request":     func() { m.ObserveRequest("get", "pods", 200, time.Millisecond, true) },
		"dns":         func() { m.ObserveQuery(1, 0, time.Microsecond) },
		"engine call": func() { m.ObserveEngineCall("container_inspect", time.Millisecond, false) },
		"sync":        func() { m.ObserveSync("deployment", time.Millisecond, nil) },
	} {
		fn()
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per observation", name, n)
		}
	}
}
