package ingress

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
)

// Stats are counters since the proxy was made.
type Stats struct {
	// Responses by status class. 499 (the client left) counts as 4xx.
	Responses1xx, Responses2xx, Responses3xx, Responses4xx, Responses5xx int64
	// UpstreamErrors counts requests an endpoint failed (answered 502 or
	// 504): refused or reset connections, timeouts, malformed responses.
	UpstreamErrors int64
	// Retries counts requests sent to a second endpoint because the first
	// could not be connected to.
	Retries int64
	// TLSHosts is how many hosts (exact or wildcard) have a certificate of
	// their own now; TLSHandshakes counts handshakes given one of those,
	// TLSDefault those given the default certificate.
	TLSHosts                  int
	TLSHandshakes, TLSDefault int64
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	c := &p.stats
	return Stats{
		Responses1xx: c.classes[1].Load(), Responses2xx: c.classes[2].Load(), Responses3xx: c.classes[3].Load(),
		Responses4xx: c.classes[4].Load(), Responses5xx: c.classes[5].Load(),
		UpstreamErrors: c.upstreamErrors.Load(), Retries: c.retries.Load(),
		TLSHosts: p.certs.Load().hosts(), TLSHandshakes: c.tlsOwn.Load(), TLSDefault: c.tlsDefault.Load(),
	}
}

// counters is the live, atomic form of Stats.
type counters struct {
	classes                 [6]atomic.Int64 // index: status / 100
	upstreamErrors, retries atomic.Int64
	tlsOwn, tlsDefault      atomic.Int64
}

func (c *counters) count(code int) {
	if code == 0 {
		code = http.StatusOK // the handler wrote nothing: net/http sends 200
	}
	if class := code / 100; class >= 1 && class <= 5 {
		c.classes[class].Add(1)
	}
}

// statusRecorder remembers the status of the answer. Unwrap lets
// http.ResponseController reach Flush underneath.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	// 1xx other than 101 are interim: the final status comes later.
	if r.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack counts the connection as switched: the reverse proxy takes it over
// only for a 101, which it then writes on the raw connection.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	return c, brw, err
}
