package api

import "context"

type dryRunKey struct{}

// WithDryRun marks a request's context as a dry run (Kubernetes'
// dryRun=All): the store checks, defaults and admits the write as usual and
// answers with the object it would have stored, but stores nothing.
func WithDryRun(ctx context.Context) context.Context {
	return context.WithValue(ctx, dryRunKey{}, true)
}

// IsDryRun reports whether ctx is a dry run's.
func IsDryRun(ctx context.Context) bool {
	b, _ := ctx.Value(dryRunKey{}).(bool)
	return b
}
