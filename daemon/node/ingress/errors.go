package ingress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
)

// ErrAlreadyRunning is returned by Run while another Run of the same Proxy
// has not returned.
var ErrAlreadyRunning = errors.New("ingress: proxy is already running")

// ErrNotSynced is answered with 503 until Run has loaded the Ingresses,
// Services and Endpoints once: a partial table would send 404s and 503s for
// routes that exist.
var ErrNotSynced = errors.New("ingress: routes not loaded yet")

// errNoBackend: a request reached the transport without a backend, which
// only a request not sent through ServeHTTP can do.
var errNoBackend = errors.New("ingress: request has no backend")

// NoRouteError: no rule and no defaultBackend matches the request.
type NoRouteError struct {
	Host, Path string
}

func (e *NoRouteError) Error() string {
	return fmt.Sprintf("no ingress rule matches host %q and path %q", e.Host, e.Path)
}

// NoEndpointsError: the route's Service has no ready endpoint to send to.
// Reason says why when it is not simply the lack of ready pods.
type NoEndpointsError struct {
	Namespace, Service string
	Reason             string
}

func (e *NoEndpointsError) Error() string {
	msg := "no ready endpoints for service " + e.Namespace + "/" + e.Service
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// UpstreamError: the endpoint at Addr failed the request (connection refused
// or reset, timeout, malformed response).
type UpstreamError struct {
	Namespace, Service string
	Addr               string
	Err                error
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("service %s/%s at %s: %v", e.Namespace, e.Service, e.Addr, e.Err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Timeout reports a connect or response-header timeout.
func (e *UpstreamError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// statusOf is the one place an error becomes an HTTP status.
func statusOf(err error) int {
	var (
		noRoute *NoRouteError
		noEps   *NoEndpointsError
		up      *UpstreamError
	)
	switch {
	case errors.As(err, &noRoute):
		return http.StatusNotFound
	case errors.Is(err, ErrNotSynced), errors.As(err, &noEps):
		return http.StatusServiceUnavailable
	case errors.As(err, &up) && up.Timeout():
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// dialError marks a failure to connect: nothing reached the endpoint, so the
// request may go to another one.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
