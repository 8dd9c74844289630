package engine

import (
	"errors"
	"net"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// sdkError carries both one of the package's sentinels and the SDK's own
// error, so that errors.Is matches the sentinel while the engine's message is
// kept for people to read.
type sdkError struct {
	sentinel error
	cause    error
}

func (e *sdkError) Error() string   { return e.cause.Error() }
func (e *sdkError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// mapErr classifies an error of the Docker SDK. notFound is the sentinel a
// 404 stands for in the calling operation (ErrNotFound or ErrImageNotFound).
// Errors of no known class, context errors included, are returned unchanged.
func mapErr(err error, notFound error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case cerrdefs.IsNotFound(err):
		sentinel = notFound
	case cerrdefs.IsConflict(err), cerrdefs.IsAlreadyExists(err):
		sentinel = ErrConflict
	case client.IsErrConnectionFailed(err), cerrdefs.IsUnavailable(err), isDialError(err):
		sentinel = ErrUnavailable
	default:
		return err
	}
	return &sdkError{sentinel: sentinel, cause: err}
}

// isDialError reports a failure to connect, which the SDK does not classify
// on hijacked connections (exec attach).
func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
