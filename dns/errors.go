package dns

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrConfig marks an invalid Config (see ConfigError for the field).
	ErrConfig = errors.New("dns: invalid config")
	// ErrNoUpstream: a name outside the cluster could not be forwarded
	// because no upstream resolver is configured or all are this server.
	ErrNoUpstream = errors.New("dns: no upstream resolver")
	// ErrBusy: a name was not forwarded because Config.MaxForwards
	// questions already wait for the upstreams.
	ErrBusy = errors.New("dns: too many questions waiting for the upstreams")
	// ErrUpstream marks a failed exchange with an upstream resolver.
	ErrUpstream = errors.New("dns: upstream failed")
	// ErrWatchClosed: a watch of the source ended while the server still
	// follows it; Run lists again.
	ErrWatchClosed = errors.New("dns: watch closed")
	// ErrShutdown: the server was shut down.
	ErrShutdown = errors.New("dns: server shut down")
)

// ConfigError names the Config field that is wrong.
type ConfigError struct {
	Field string
	Value string
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("dns: config %s %q: %v", e.Field, e.Value, e.Err)
}

// Unwrap gives the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// Is makes every ConfigError match ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// UpstreamError is a failed exchange with one upstream resolver.
type UpstreamError struct {
	Addr  string
	Rcode int // the upstream's rcode when it answered with a failure, else -1
	Err   error
}

func (e *UpstreamError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("dns: upstream %s answered %s", e.Addr, rcodeName(e.Rcode))
	}
	return fmt.Sprintf("dns: upstream %s: %v", e.Addr, e.Err)
}

// Unwrap gives the cause.
func (e *UpstreamError) Unwrap() error { return e.Err }

// Is makes every UpstreamError match ErrUpstream.
func (e *UpstreamError) Is(target error) bool { return target == ErrUpstream }
