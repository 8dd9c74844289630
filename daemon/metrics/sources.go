package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/daemon/node/ingress"
	"github.com/shoal-dev/shoal/gossip"
)

// sources are the counters subsystems keep themselves, read when
// Prometheus scrapes. A source not set yet (the ingress of an agent
// without one, the controllers of an agent that does not lead) gives no
// samples.
type sources struct {
	mu      sync.Mutex
	gossip  func() gossip.Stats
	members func() []gossip.Member
	records func() int
	queues  []func(yield func(name string, depth int))
	ingress func() ingress.Stats

	descs map[string]*prometheus.Desc
}

// scraped are the families of sources: name, help, labels.
var scraped = []struct {
	name, help string
	labels     []string
}{
	{"shoal_store_records", "Records in the local store, tombstones included.", nil},
	{"shoal_gossip_members", "Members of the cluster as this agent sees them, by state (alive, dead, left).", []string{"state"}},
	{"shoal_gossip_messages_received_total", "Well-formed gossip messages received.", nil},
	{"shoal_gossip_messages_sent_total", "Gossip messages sent: transmissions of queued broadcasts and direct pushes.", nil},
	{"shoal_gossip_messages_dropped_total", "Gossip messages received and dropped because the inbound queue was full (anti-entropy repairs them).", nil},
	{"shoal_gossip_bytes_received_total", "Bytes read on the TCP connections the gossip port accepted (push/pull, record pulls, joins).", nil},
	{"shoal_gossip_bytes_sent_total", "Bytes this agent sent for gossip: UDP packets and what it wrote on accepted TCP connections.", nil},
	{"shoal_gossip_anti_entropy_rounds_total", "Anti-entropy exchanges completed with a peer.", nil},
	{"shoal_gossip_records_repaired_total", "Records fetched from peers by anti-entropy pulls and digests.", nil},
	{"shoal_gossip_records_refused_total", "Records and states refused: failed validation, or a clock beyond the allowed offset.", nil},
	{"shoal_workqueue_depth", "Keys waiting in a work queue, by queue (each controller's, the scheduler's); leader only.", []string{"name"}},
	{"shoal_ingress_requests_total", "Requests the ingress proxy answered, by status class (2xx, 4xx, ...).", []string{"code"}},
	{"shoal_ingress_upstream_errors_total", "Ingress requests a backend failed (answered 502 or 504).", nil},
}

// statusClasses label the ingress's answers.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func newSources() *sources {
	s := &sources{descs: map[string]*prometheus.Desc{}}
	for _, f := range scraped {
		s.descs[f.name] = prometheus.NewDesc(f.name, f.help, f.labels, nil)
	}
	return s
}

// SetGossip makes the gossip, membership and store families read from
// these (the agent's cluster and store).
func (m *Metrics) SetGossip(stats func() gossip.Stats, members func() []gossip.Member, records func() int) {
	m.sources.mu.Lock()
	defer m.sources.mu.Unlock()
	m.sources.gossip, m.sources.members, m.sources.records = stats, members, records
}

// AddQueues adds a source of work queue depths (the controllers', the
// scheduler's); it reports nothing while its owner does not run.
func (m *Metrics) AddQueues(depths func(yield func(name string, depth int))) {
	m.sources.mu.Lock()
	defer m.sources.mu.Unlock()
	m.sources.queues = append(m.sources.queues, depths)
}

// SetIngress makes the ingress families read from stats.
func (m *Metrics) SetIngress(stats func() ingress.Stats) {
	m.sources.mu.Lock()
	defer m.sources.mu.Unlock()
	m.sources.ingress = stats
}

func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

func (s *sources) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	gs, members, records, queues, ing := s.gossip, s.members, s.records, append([]func(func(string, int)){}, s.queues...), s.ingress
	s.mu.Unlock()
	counter := func(name string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(s.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(name string, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(s.descs[name], prometheus.GaugeValue, float64(v), labels...)
	}
	if records != nil {
		gauge("shoal_store_records", records())
	}
	if members != nil {
		count := map[string]int{gossip.StateAlive.String(): 0, gossip.StateDead.String(): 0, gossip.StateLeft.String(): 0}
		for _, mb := range members() {
			count[mb.State.String()]++
		}
		for state, n := range count {
			gauge("shoal_gossip_members", n, state)
		}
	}
	if gs != nil {
		st := gs()
		counter("shoal_gossip_messages_received_total", st.MessagesReceived)
		counter("shoal_gossip_messages_sent_total", st.BroadcastsSent+st.Pushes)
		counter("shoal_gossip_messages_dropped_total", st.Dropped)
		counter("shoal_gossip_bytes_received_total", st.StreamBytesIn)
		counter("shoal_gossip_bytes_sent_total", st.PacketBytesSent+st.StreamBytesOut)
		counter("shoal_gossip_anti_entropy_rounds_total", st.SyncRounds)
		counter("shoal_gossip_records_repaired_total", st.RecordsPulled)
		counter("shoal_gossip_records_refused_total", st.Refused)
	}
	for _, q := range queues {
		q(func(name string, depth int) { gauge("shoal_workqueue_depth", depth, name) })
	}
	if ing != nil {
		st := ing()
		for i, n := range []int64{st.Responses1xx, st.Responses2xx, st.Responses3xx, st.Responses4xx, st.Responses5xx} {
			counter("shoal_ingress_requests_total", n, statusClasses[i])
		}
		counter("shoal_ingress_upstream_errors_total", st.UpstreamErrors)
	}
}
