package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Status reasons, as in Kubernetes.
const (
	ReasonNotFound        = "NotFound"
	ReasonAlreadyExists   = "AlreadyExists"
	ReasonConflict        = "Conflict"
	ReasonInvalid         = "Invalid"
	ReasonBadRequest      = "BadRequest"
	ReasonGone            = "Expired"
	ReasonTooLarge        = "RequestEntityTooLarge"
	ReasonMethodNotAllow  = "MethodNotAllowed"
	ReasonInternalError   = "InternalError"
	ReasonUnavailable     = "ServiceUnavailable"
	ReasonTimeout         = "Timeout"
	ReasonUnauthorized    = "Unauthorized"
	ReasonForbidden       = "Forbidden"
	ReasonUnsupportedType = "UnsupportedMediaType"
	ReasonTooManyRequests = "TooManyRequests"
	// ReasonInsufficientStorage answers a write the agent could not store
	// for want of disk space (507): nothing was written.
	ReasonInsufficientStorage = "InsufficientStorage"
	// ReasonMisdirected answers a request for a host name the server does
	// not serve (421), as a browser under DNS rebinding would send.
	ReasonMisdirected = "MisdirectedRequest"
)

// StatusError is an error that carries the Status the API answers with. The
// store, the server and the client all use it, so that a 404 on the server is
// a NotFound in the client.
type StatusError struct {
	ErrStatus Status
}

func (e *StatusError) Error() string { return e.ErrStatus.Message }

// Code returns the HTTP status code.
func (e *StatusError) Code() int { return int(e.ErrStatus.Code) }

func newStatusError(code int, reason, msg string, details *StatusDetails) *StatusError {
	return &StatusError{ErrStatus: Status{TypeMeta: TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: "Failure", Code: int32(code), Reason: reason, Message: msg, Details: details}}
}

// NewNotFound says an object does not exist.
func NewNotFound(k *Kind, name string) *StatusError {
	return newStatusError(http.StatusNotFound, ReasonNotFound,
		fmt.Sprintf("%s %q not found", k.Resource, name), &StatusDetails{Name: name, Group: k.Group, Kind: k.Resource})
}

// NewAlreadyExists says the name is taken.
func NewAlreadyExists(k *Kind, name string) *StatusError {
	return newStatusError(http.StatusConflict, ReasonAlreadyExists,
		fmt.Sprintf("%s %q already exists", k.Resource, name), &StatusDetails{Name: name, Group: k.Group, Kind: k.Resource})
}

// NewConflict says the object changed since the caller read it.
func NewConflict(k *Kind, name, why string) *StatusError {
	return newStatusError(http.StatusConflict, ReasonConflict,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", k.Resource, name, why),
		&StatusDetails{Name: name, Group: k.Group, Kind: k.Resource})
}

// CauseFieldManagerConflict is the cause type of a field another manager
// holds, in a server-side apply conflict.
const CauseFieldManagerConflict = "FieldManagerConflict"

// NewApplyConflict is server-side apply's 409: the message lists the
// fields and their managers, one cause per field, as Kubernetes answers.
func NewApplyConflict(causes []StatusCause, msg string) *StatusError {
	return newStatusError(http.StatusConflict, ReasonConflict, msg, &StatusDetails{Causes: causes})
}

// NewInvalid wraps field errors of one object as a 422.
func NewInvalid(k *Kind, name string, fe FieldErrors) *StatusError {
	causes := make([]StatusCause, len(fe))
	for i, f := range fe {
		causes[i] = StatusCause{Type: f.Type, Message: f.Error(), Field: f.Field}
	}
	return newStatusError(http.StatusUnprocessableEntity, ReasonInvalid,
		fmt.Sprintf("%s %q is invalid: %s", k.Kind, name, fe.Error()),
		&StatusDetails{Name: name, Group: k.Group, Kind: k.Kind, Causes: causes})
}

// NewBadRequest says the request itself is malformed.
func NewBadRequest(msg string) *StatusError {
	return newStatusError(http.StatusBadRequest, ReasonBadRequest, msg, nil)
}

// NewGone says a watch asked for history no longer kept.
func NewGone(msg string) *StatusError {
	return newStatusError(http.StatusGone, ReasonGone, msg, nil)
}

// CauseResourceVersionTooLarge is the cause Kubernetes gives a version
// newer than the server has: clients list again.
const CauseResourceVersionTooLarge = "ResourceVersionTooLarge"

// NewTooLargeResourceVersion says a list or watch named a version newer
// than this agent's store has reached (one from another agent whose clock
// is ahead): a 504 with the cause Kubernetes gives, on which client-go lists
// again from the current state.
func NewTooLargeResourceVersion(rv, current string) *StatusError {
	return newStatusError(http.StatusGatewayTimeout, ReasonTimeout,
		fmt.Sprintf("Too large resource version: %s, current: %s; list again without resourceVersion", rv, current),
		&StatusDetails{Causes: []StatusCause{{Type: CauseResourceVersionTooLarge, Message: "Too large resource version"}}, RetryAfterSeconds: 1})
}

// NewTooLarge says a request body is over the limit.
func NewTooLarge(limit int64) *StatusError {
	return newStatusError(http.StatusRequestEntityTooLarge, ReasonTooLarge,
		fmt.Sprintf("request body too large: the limit is %d bytes; split the input into smaller requests", limit), nil)
}

// NewInternal wraps an unexpected error.
func NewInternal(err error) *StatusError {
	return newStatusError(http.StatusInternalServerError, ReasonInternalError, "internal error: "+err.Error(), nil)
}

// NewUnavailable says the server cannot serve this now.
func NewUnavailable(msg string) *StatusError {
	return newStatusError(http.StatusServiceUnavailable, ReasonUnavailable, msg, nil)
}

// NewInsufficientStorage says a write was refused because the disk that
// holds the agent's state is full (507 Insufficient Storage): nothing was
// written, and the same write succeeds once there is space.
func NewInsufficientStorage(msg string) *StatusError {
	return newStatusError(http.StatusInsufficientStorage, ReasonInsufficientStorage, msg, nil)
}

// IsInsufficientStorage reports a write refused for want of disk space.
func IsInsufficientStorage(err error) bool { return ReasonOf(err) == ReasonInsufficientStorage }

// IsTooManyRequests reports a 429: a limit, or an eviction a disruption
// budget refused for now.
func IsTooManyRequests(err error) bool { return ReasonOf(err) == ReasonTooManyRequests }

// NewTooManyRequests says the client is over a limit of concurrent requests;
// it may retry after retryAfter seconds.
func NewTooManyRequests(msg string, retryAfter int32) *StatusError {
	return newStatusError(http.StatusTooManyRequests, ReasonTooManyRequests, msg, &StatusDetails{RetryAfterSeconds: retryAfter})
}

// NewStatusError makes an error with any code and reason.
func NewStatusError(code int, reason, msg string) *StatusError {
	return newStatusError(code, reason, msg, nil)
}

// ReasonOf returns the Status reason of an error, or "" if it carries none.
func ReasonOf(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.ErrStatus.Reason
	}
	return ""
}

// IsNotFound reports a NotFound error.
func IsNotFound(err error) bool { return ReasonOf(err) == ReasonNotFound }

// IsAlreadyExists reports an AlreadyExists error.
func IsAlreadyExists(err error) bool { return ReasonOf(err) == ReasonAlreadyExists }

// IsConflict reports a Conflict error.
func IsConflict(err error) bool { return ReasonOf(err) == ReasonConflict }

// IsInvalid reports a validation error.
func IsInvalid(err error) bool { return ReasonOf(err) == ReasonInvalid }

// IsGone reports an expired watch position.
func IsGone(err error) bool { return ReasonOf(err) == ReasonGone }

// NewUnauthorized says the request carries no valid credential (401).
func NewUnauthorized(msg string) *StatusError {
	return newStatusError(http.StatusUnauthorized, ReasonUnauthorized, msg, nil)
}

// NewForbiddenBecause says the caller may not do this to the object (403),
// in Kubernetes' words: `<resource> "<name>" is forbidden: <why>`.
func NewForbiddenBecause(k *Kind, name string, err error) *StatusError {
	msg := fmt.Sprintf("%s is forbidden: %v", k.Resource, err)
	if name != "" {
		msg = fmt.Sprintf("%s %q is forbidden: %v", k.Resource, name, err)
	}
	return newStatusError(http.StatusForbidden, ReasonForbidden, msg, &StatusDetails{Name: name, Group: k.Group, Kind: k.Resource})
}

// IsForbidden reports a Forbidden error.
func IsForbidden(err error) bool { return ReasonOf(err) == ReasonForbidden }

// IsUnauthorized reports an Unauthorized error.
func IsUnauthorized(err error) bool { return ReasonOf(err) == ReasonUnauthorized }

// NewForbidden refuses a write by policy (403), naming the object and, in
// causes, the fields that broke it.
func NewForbidden(k *Kind, name, msg string, causes []StatusCause) *StatusError {
	return newStatusError(http.StatusForbidden, ReasonForbidden, msg,
		&StatusDetails{Name: name, Group: k.Group, Kind: k.Resource, Causes: causes})
}
