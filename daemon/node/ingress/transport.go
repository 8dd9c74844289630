package ingress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// newTransport makes the connection pool to the endpoints. Dial errors are
// marked so that endpointTransport knows nothing reached the endpoint.
func newTransport(cfg Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil, // never the environment's proxy: endpoints are pod IPs
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err: err}
			}
			return c, nil
		},
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerBackend,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
		// Pass Accept-Encoding and the encoded body through untouched.
		DisableCompression: true,
	}
}

// endpointTransport sends a request to an endpoint of the backend ServeHTTP
// put in its context and, when that endpoint cannot be connected to, once
// more to the next one.
type endpointTransport struct {
	base    http.RoundTripper
	retries *atomic.Int64
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	be := backendFrom(req.Context())
	if be == nil {
		return nil, errNoBackend
	}
	first, second := be.pick()
	if first == "" {
		return nil, be.unavailable()
	}
	var body *bodyGuard
	if second != "" && req.Body != nil && req.Body != http.NoBody {
		body = &bodyGuard{r: req.Body}
	}
	resp, err := t.base.RoundTrip(toEndpoint(req, first, body))
	if err == nil {
		return resp, nil
	}
	if second == "" || req.Context().Err() != nil || !retryable(err, body) {
		return nil, &UpstreamError{Namespace: be.namespace, Service: be.service, Addr: first, Err: err}
	}
	t.retries.Add(1)
	resp, err = t.base.RoundTrip(toEndpoint(req, second, body))
	if err != nil {
		return nil, &UpstreamError{Namespace: be.namespace, Service: be.service, Addr: second, Err: err}
	}
	return resp, nil
}

// retryable: the connection was never made and no byte of the body was
// consumed, so a second endpoint sees exactly what the first would have.
func retryable(err error, body *bodyGuard) bool {
	var de *dialError
	if !errors.As(err, &de) {
		return false
	}
	return body == nil || body.n.Load() == 0
}

// toEndpoint addresses a copy of req to addr. The request itself is left
// alone: the transport must not modify it.
func toEndpoint(req *http.Request, addr string, body *bodyGuard) *http.Request {
	out := req.WithContext(req.Context())
	u := *req.URL
	u.Host = addr
	out.URL = &u
	if body != nil {
		out.Body = body
	}
	return out
}

// bodyGuard survives a failed attempt: the transport closes the body it is
// given even when it could not connect, and the retry must still read it.
// The reverse proxy closes the real body when the request ends.
type bodyGuard struct {
	r io.ReadCloser
	n atomic.Int64 // bytes read
}

func (b *bodyGuard) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *bodyGuard) Close() error { return nil }
