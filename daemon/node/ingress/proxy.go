package ingress

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
)

// Proxy is the ingress reverse proxy of one node.
type Proxy struct {
	cfg       Config
	log       *slog.Logger
	table     atomic.Pointer[table]           // nil until Run has listed everything once
	certs     atomic.Pointer[certTable]       // the hosts' certificates; nil until then
	defCert   atomic.Pointer[tls.Certificate] // made when the first HTTPS listener starts
	transport *http.Transport
	rp        *httputil.ReverseProxy
	stats     counters
	running   atomic.Bool
}

// statusClientClosed is logged and counted when the client left before the
// answer, as nginx does.
const statusClientClosed = 499

// New makes a proxy; it answers 503 until Run has loaded the routes.
func New(cfg Config, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg.withDefaults(), log: log}
	p.transport = newTransport(p.cfg)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      &endpointTransport{base: p.transport, retries: &p.stats.retries},
		ModifyResponse: recovered,
		ErrorHandler:   p.proxyError,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return p
}

// ServeHTTP routes the request to a ready endpoint of the matching Service.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { p.stats.count(rec.code) }()
	t := p.table.Load()
	if t == nil {
		writeError(rec, ErrNotSynced)
		return
	}
	rt := t.lookup(r.Host, r.URL.Path)
	if rt == nil {
		writeError(rec, &NoRouteError{Host: requestHost(r.Host), Path: r.URL.Path})
		return
	}
	if len(rt.backend.addrs) == 0 {
		writeError(rec, rt.backend.unavailable())
		return
	}
	ctx := context.WithValue(r.Context(), backendCtxKey{}, rt.backend)
	p.rp.ServeHTTP(rec, r.WithContext(ctx))
}

// rewrite addresses the request to the backend: the transport picks the
// endpoint. The Host header stays the client's, and the X-Forwarded headers
// record the client, appending to those of proxies in front of this one.
func rewrite(r *httputil.ProxyRequest) {
	r.Out.URL.Scheme = "http"
	r.Out.Host = r.In.Host
	r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
	r.SetXForwarded()
}

// recovered notes that the backend answered, so that its next failure is
// logged loudly again.
func recovered(resp *http.Response) error {
	if be := backendFrom(resp.Request.Context()); be != nil {
		be.failing.Store(false)
	}
	return nil
}

// proxyError answers a request the backend failed.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		p.log.Debug("client left before the answer", "host", r.Host, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	p.stats.upstreamErrors.Add(1)
	be := backendFrom(r.Context())
	code := statusOf(err)
	msg := http.StatusText(code)
	if be != nil {
		msg += " from service " + be.namespace + "/" + be.service
		// A failing backend fails every request: say so once, loudly.
		if !be.failing.Swap(true) {
			p.log.Warn("ingress backend failed", "host", r.Host, "path", r.URL.Path, "status", code, "err", err)
		} else {
			p.log.Debug("ingress backend failed", "host", r.Host, "path", r.URL.Path, "status", code, "err", err)
		}
	}
	http.Error(w, msg, code)
}

func writeError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), statusOf(err))
}

type backendCtxKey struct{}

func backendFrom(ctx context.Context) *backend {
	be, _ := ctx.Value(backendCtxKey{}).(*backend)
	return be
}
