// Package patch applies the PATCH bodies Kubernetes clients send (kubectl,
// client-go, Helm) to a stored object's JSON: a JSON merge patch (RFC 7386),
// a strategic merge patch (k8s.io/apimachinery's strategicpatch over shoal's
// own Go types, whose patchStrategy and patchMergeKey tags match
// Kubernetes'), and a JSON patch (RFC 6902, with a bound on its operations
// and on what its copy operations may add). It is the only importer of the
// patch libraries; its errors are api Status errors ready for the wire.
package patch
