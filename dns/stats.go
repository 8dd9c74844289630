package dns

import (
	"strconv"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Observer is told of every answer the server sends, for the agent's
// metrics: the question's type (0 for an answer to a query over its rate
// limit, which is not parsed), the rcode and the time from reading the
// query to sending the answer. It runs on the packet loop and must not
// block.
type Observer interface {
	ObserveQuery(qtype uint16, rcode int, took time.Duration)
}

// SetObserver has o told of every answer sent; call it before Run.
func (s *Server) SetObserver(o Observer) { s.obs = o }

// Stats are the server's counters since it started.
type Stats struct {
	Queries   uint64            `json:"queries"`   // questions handled (every message given to the handler)
	Rcodes    map[string]uint64 `json:"rcodes"`    // responses sent, by rcode name ("NOERROR", "NXDOMAIN", ...)
	Truncated uint64            `json:"truncated"` // UDP responses cut to the client's size (TC set)
	Forwarded uint64            `json:"forwarded"` // questions sent to an upstream (cache misses)
	CacheHits uint64            `json:"cacheHits"` // forwarded questions answered from the cache
	Upstream  uint64            `json:"upstream"`  // failed exchanges with an upstream
	Rejected  uint64            `json:"rejected"`  // messages refused before the handler (not a query, several questions)
	Malformed uint64            `json:"malformed"` // packets that did not parse
	Panics    uint64            `json:"panics"`    // panics recovered in the handler or the zone builder
	// Limits (see the package documentation).
	Refused      uint64 `json:"refused"`       // names outside the cluster refused to a source that may not recurse
	RateLimited  uint64 `json:"rateLimited"`   // UDP queries over their source's rate limit (dropped or slipped)
	Slipped      uint64 `json:"slipped"`       // of those, answered empty and truncated instead of dropped
	Dropped      uint64 `json:"dropped"`       // UDP queries dropped because the workers' queue was full
	UpstreamBusy uint64 `json:"upstreamBusy"`  // names answered SERVFAIL because MaxForwards already waited
	TCPRejected  uint64 `json:"tcpRejected"`   // TCP connections closed past MaxTCPConns or MaxTCPConnsPerSource
	Sources      int    `json:"sources"`       // source addresses the rate limiter tracks now
	NodeAddrs    int    `json:"nodeAddresses"` // node addresses that may recurse
	Builds       uint64 `json:"builds"`        // zones built and published
	Unchanged    uint64 `json:"unchanged"`     // zones built and dropped because no record changed
	Records      int    `json:"records"`       // records in the zone served now (pods' names are synthesised)
	Cached       int    `json:"cached"`        // forwarded answers in the cache
	Ready        bool   `json:"ready"`         // a zone is being served
}

type stats struct {
	queries, truncated, forwarded, cacheHits, upstream atomic.Uint64
	rejected, malformed, panics, builds, unchanged     atomic.Uint64
	refused, rateLimited, slipped, dropped, busy       atomic.Uint64
	tcpRejected                                        atomic.Uint64
	rcodes                                             [mdns.RcodeBadCookie + 2]atomic.Uint64 // the last slot counts any other rcode
}

func (s *stats) rcode(rc int) {
	if rc < 0 || rc >= len(s.rcodes) {
		rc = len(s.rcodes) - 1
	}
	s.rcodes[rc].Add(1)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Queries:   st.queries.Load(),
		Rcodes:    map[string]uint64{},
		Truncated: st.truncated.Load(),
		Forwarded: st.forwarded.Load(),
		CacheHits: st.cacheHits.Load(),
		Upstream:  st.upstream.Load(),
		Rejected:  st.rejected.Load(),
		Malformed: st.malformed.Load(),
		Panics:    st.panics.Load(),
		Builds:    st.builds.Load(),
		Unchanged: st.unchanged.Load(),

		Refused:      st.refused.Load(),
		RateLimited:  st.rateLimited.Load(),
		Slipped:      st.slipped.Load(),
		Dropped:      st.dropped.Load(),
		UpstreamBusy: st.busy.Load(),
		TCPRejected:  st.tcpRejected.Load(),
		Sources:      s.limit.sources(),
		NodeAddrs:    s.policy.nodeCount(),
	}
	for rc := range st.rcodes {
		n := st.rcodes[rc].Load()
		switch {
		case n == 0:
		case rc == len(st.rcodes)-1:
			out.Rcodes["OTHER"] = n
		default:
			out.Rcodes[rcodeName(rc)] = n
		}
	}
	if z := s.zone.Load(); z != nil {
		out.Records, out.Ready = z.size, true
	}
	if s.fwd != nil {
		out.Cached = s.fwd.cache.len()
	}
	return out
}

func rcodeName(rc int) string {
	if n, ok := mdns.RcodeToString[rc]; ok {
		return n
	}
	return "RCODE" + strconv.Itoa(rc)
}
