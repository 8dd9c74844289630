package api

import "context"

type warningSinkKey struct{}

// WithWarningSink returns a context under which AddWarning reports to sink:
// the API server sets one per request, so that a store or admission step
// deep below can accept a write with a warning for the user (the HTTP
// Warning header, as Kubernetes sends them).
func WithWarningSink(ctx context.Context, sink func(msg string)) context.Context {
	return context.WithValue(ctx, warningSinkKey{}, sink)
}

// AddWarning reports a warning about the request ctx belongs to; without a
// sink (a controller's write) it goes nowhere.
func AddWarning(ctx context.Context, msg string) {
	if ctx == nil {
		return
	}
	if sink, ok := ctx.Value(warningSinkKey{}).(func(string)); ok && sink != nil {
		sink(msg)
	}
}
