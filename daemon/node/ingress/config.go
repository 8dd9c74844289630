package ingress

import "time"

// DefaultAddr is where the agent serves ingress traffic unless told otherwise
// (--ingress-addr).
const DefaultAddr = "0.0.0.0:80"

// DefaultTLSAddr is where the agent serves ingress traffic over HTTPS unless
// told otherwise (--ingress-tls-addr).
const DefaultTLSAddr = "0.0.0.0:443"

// Config tunes the proxy. Zero values take the values of DefaultConfig.
type Config struct {
	// DialTimeout bounds connecting to an endpoint. A connection that fails
	// is tried once more on another endpoint.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a backend's response headers
	// once the request has been written; it does not bound the body, so
	// long downloads and websockets are not cut.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerBackend bounds the keep-alive connections kept idle to
	// each endpoint, MaxIdleConns those kept to all endpoints together.
	MaxIdleConnsPerBackend int
	MaxIdleConns           int
	// IdleConnTimeout closes a backend connection idle for this long.
	IdleConnTimeout time.Duration
	// ReadHeaderTimeout bounds reading a client's request headers, against
	// clients that hold connections open by sending slowly.
	ReadHeaderTimeout time.Duration
	// ClientIdleTimeout closes a client keep-alive connection idle this long.
	ClientIdleTimeout time.Duration
	// ShutdownTimeout is how long requests in flight may finish once the
	// context of ListenAndServe ends; upgraded connections end at once.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the proxy's defaults.
func DefaultConfig() Config {
	return Config{
		DialTimeout:            5 * time.Second,
		ResponseHeaderTimeout:  60 * time.Second,
		MaxIdleConnsPerBackend: 32,
		MaxIdleConns:           1024,
		IdleConnTimeout:        90 * time.Second,
		ReadHeaderTimeout:      30 * time.Second,
		ClientIdleTimeout:      120 * time.Second,
		ShutdownTimeout:        10 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDuration(&c.DialTimeout, d.DialTimeout)
	setDuration(&c.ResponseHeaderTimeout, d.ResponseHeaderTimeout)
	setDuration(&c.IdleConnTimeout, d.IdleConnTimeout)
	setDuration(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	setDuration(&c.ClientIdleTimeout, d.ClientIdleTimeout)
	setDuration(&c.ShutdownTimeout, d.ShutdownTimeout)
	if c.MaxIdleConnsPerBackend <= 0 {
		c.MaxIdleConnsPerBackend = d.MaxIdleConnsPerBackend
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = d.MaxIdleConns
	}
	return c
}

func setDuration(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}
