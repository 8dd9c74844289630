// Package api holds shoal's object types in the shape of Kubernetes objects, their
// defaulting and validation, label selectors and the kind registry. It imports nothing
// of shoal's own.
package api
