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

type wholeObjectKey struct{}

// WithWholeObject marks a write that sends the whole object as its writer
// means it (a PUT, shoal apply), rather than one read, changed and written
// back. Such a writer may not know that the object is being deleted: when
// its object has no metadata.finalizers at all, the store keeps the stored
// ones (foregroundDeletion among them) instead of finishing the deletion.
func WithWholeObject(ctx context.Context) context.Context {
	return context.WithValue(ctx, wholeObjectKey{}, true)
}

// IsWholeObject reports whether ctx is marked by WithWholeObject.
func IsWholeObject(ctx context.Context) bool {
	b, _ := ctx.Value(wholeObjectKey{}).(bool)
	return b
}

type finishForegroundKey struct{}

// WithFinishForeground marks the garbage collector's update that removes
// the finalizer foregroundDeletion: the store refuses it (409 Conflict)
// while a dependent that blocks the owner's deletion is stored, so the
// decision rests on the store, not on the collector's cache.
func WithFinishForeground(ctx context.Context) context.Context {
	return context.WithValue(ctx, finishForegroundKey{}, true)
}

// IsFinishForeground reports whether ctx is marked by WithFinishForeground.
func IsFinishForeground(ctx context.Context) bool {
	b, _ := ctx.Value(finishForegroundKey{}).(bool)
	return b
}
