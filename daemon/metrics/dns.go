package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dnsTypes are the query types counted by name; any other counts as OTHER,
// so a client cannot make series up. The values are the RR type numbers.
var dnsTypes = []struct {
	code uint16
	name string
}{{1, "A"}, {2, "NS"}, {5, "CNAME"}, {6, "SOA"}, {12, "PTR"}, {15, "MX"}, {16, "TXT"}, {28, "AAAA"}, {33, "SRV"}, {65, "HTTPS"}, {255, "ANY"}}

// dnsRcodes name the rcodes 0 to 23 (RFC 6895); any other counts as OTHER.
var dnsRcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14", "RCODE15", "BADVERS", "BADKEY",
	"BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE"}

// dnsMetrics are the cluster DNS server's answers by type and rcode, and
// their latency. The counters sit in a fixed table indexed by type and
// rcode, made on first use: the packet loop does two index lookups.
type dnsMetrics struct {
	queries *prometheus.CounterVec
	latency prometheus.Histogram

	typeIndex map[uint16]int
	mu        sync.Mutex                      // held to make a counter
	table     [][]atomic.Pointer[counterCell] // [type index][rcode index], nil until seen
}

type counterCell struct{ c prometheus.Counter }

func newDNSMetrics(f factory) *dnsMetrics {
	d := &dnsMetrics{
		queries:   f.counterVec("shoal_dns_queries_total", "DNS queries answered by the cluster DNS server, by query type and response code.", "type", "rcode"),
		latency:   f.histogram("shoal_dns_request_duration_seconds", "Time from receiving a DNS query to sending its answer.", dnsBuckets),
		typeIndex: map[uint16]int{},
	}
	for i, t := range dnsTypes {
		d.typeIndex[t.code] = i
	}
	d.table = make([][]atomic.Pointer[counterCell], len(dnsTypes)+1)
	for i := range d.table {
		d.table[i] = make([]atomic.Pointer[counterCell], len(dnsRcodes)+1)
	}
	return d
}

// ObserveQuery records one DNS answer sent.
func (m *Metrics) ObserveQuery(qtype uint16, rcode int, took time.Duration) {
	d := m.dns
	ti, ok := d.typeIndex[qtype]
	if !ok {
		ti = len(dnsTypes)
	}
	ri := rcode
	if ri < 0 || ri >= len(dnsRcodes) {
		ri = len(dnsRcodes)
	}
	cell := d.table[ti][ri].Load()
	if cell == nil {
		cell = d.counter(ti, ri)
	}
	cell.c.Inc()
	if took >= 0 {
		d.latency.Observe(took.Seconds())
	}
}

// counter makes (once) the counter of a type and rcode.
func (d *dnsMetrics) counter(ti, ri int) *counterCell {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cell := d.table[ti][ri].Load(); cell != nil {
		return cell
	}
	tn, rn := "OTHER", "OTHER"
	if ti < len(dnsTypes) {
		tn = dnsTypes[ti].name
	}
	if ri < len(dnsRcodes) {
		rn = dnsRcodes[ri]
	}
	cell := &counterCell{d.queries.WithLabelValues(tn, rn)}
	d.table[ti][ri].Store(cell)
	return cell
}
