package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// upstreamUDPSize is the EDNS buffer we offer upstreams and clients: the
// DNS flag day 2020 size, which avoids IP fragmentation.
const upstreamUDPSize = 1232

// forwarder asks the upstream resolvers for names outside the cluster.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	cache     *cache
	stats     *stats
	log       *slog.Logger
	udp, tcp  *mdns.Client
	first     atomic.Uint32 // the upstream that answered last: tried first
	self      func(addr string) bool
	// inflight holds a token per question waiting for an upstream.
	inflight chan struct{}
	// failing reports an upstream that was failing, so a run of failures
	// is logged once and its recovery once.
	failing atomic.Bool
}

func newForwarder(s settings, st *stats, log *slog.Logger, self func(string) bool) *forwarder {
	return &forwarder{
		upstreams: s.upstreams,
		timeout:   s.UpstreamTimeout,
		cache:     newCache(s.CacheSize, s.CacheMaxTTL, s.CacheMaxNegativeTTL),
		stats:     st,
		log:       log,
		udp:       &mdns.Client{Net: "udp", Timeout: s.UpstreamTimeout, UDPSize: upstreamUDPSize},
		tcp:       &mdns.Client{Net: "tcp", Timeout: s.UpstreamTimeout},
		self:      self,
		inflight:  make(chan struct{}, s.MaxForwards),
	}
}

// resolve answers one question from the cache or the first upstream that
// answers it. Only when every upstream fails does it return an error.
func (f *forwarder) resolve(ctx context.Context, name string, qtype, qclass uint16) (reply, error) {
	k := cacheKey{name: strings.ToLower(name), qtype: qtype, qclass: qclass}
	if r, ok := f.cache.get(k); ok {
		f.stats.cacheHits.Add(1)
		return r, nil
	}
	select {
	case f.inflight <- struct{}{}:
		defer func() { <-f.inflight }()
	default:
		// As many questions wait for the upstreams as may: answering at
		// once beats holding a worker, and a flood of names nobody
		// answers cannot take every worker.
		f.stats.busy.Add(1)
		return reply{}, ErrBusy
	}
	q := new(mdns.Msg)
	q.SetQuestion(k.name, qtype)
	q.Question[0].Qclass = qclass
	q.RecursionDesired = true
	q.SetEdns0(upstreamUDPSize, false)

	var errs []error
	n := len(f.upstreams)
	start := int(f.first.Load())
	for i := range n {
		idx := (start + i) % n
		addr := f.upstreams[idx]
		if f.self != nil && f.self(addr) {
			continue // our own listener: forwarding there would loop
		}
		f.stats.forwarded.Add(1)
		r, err := f.exchange(ctx, addr, q)
		if err != nil {
			f.stats.upstream.Add(1)
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		f.first.Store(uint32(idx))
		if f.failing.CompareAndSwap(true, false) {
			f.log.Info("upstream resolver answers again", "upstream", addr)
		}
		return f.cache.put(k, r), nil
	}
	if len(errs) == 0 {
		return reply{}, ErrNoUpstream
	}
	err := errors.Join(errs...)
	if f.failing.CompareAndSwap(false, true) {
		f.log.Warn("every upstream resolver failed", "name", k.name, "error", err)
	}
	return reply{}, err
}

// exchange asks one upstream over UDP, and again over TCP when the answer
// was truncated.
func (f *forwarder) exchange(ctx context.Context, addr string, q *mdns.Msg) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	m, _, err := f.udp.ExchangeContext(ctx, q, addr)
	if err == nil && m.Truncated {
		m, _, err = f.tcp.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return reply{}, &UpstreamError{Addr: addr, Rcode: -1, Err: err}
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) ||
		m.Question[0].Qtype != q.Question[0].Qtype {
		return reply{}, &UpstreamError{Addr: addr, Rcode: -1, Err: fmt.Errorf("answer for another question %v", m.Question)}
	}
	switch m.Rcode {
	case mdns.RcodeSuccess, mdns.RcodeNameError:
	default:
		// SERVFAIL, REFUSED, NOTIMP, FORMERR: the next upstream may do better.
		return reply{}, &UpstreamError{Addr: addr, Rcode: m.Rcode}
	}
	r := reply{rcode: m.Rcode, answer: m.Answer, ns: m.Ns}
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			r.extra = append(r.extra, rr)
		}
	}
	return r, nil
}
