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

type trackedKey struct{}

// WithManagedFields marks a status write whose object carries the
// managedFields to store with it (the API server's tracking of who set
// which field). Other status writers (nodes, controllers) hold objects read
// earlier, whose managedFields may be stale: theirs are not stored.
func WithManagedFields(ctx context.Context) context.Context {
	return context.WithValue(ctx, trackedKey{}, true)
}

// HasManagedFields reports whether ctx is marked by WithManagedFields.
func HasManagedFields(ctx context.Context) bool {
	b, _ := ctx.Value(trackedKey{}).(bool)
	return b
}
