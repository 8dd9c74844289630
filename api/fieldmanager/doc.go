// Package fieldmanager is server-side apply: it merges an applied
// configuration into a stored object and keeps metadata.managedFields, the
// record of which manager set which field by which operation (Apply or
// Update), as Kubernetes' API server does. The merge, the ownership and the
// conflicts are k8s.io/apimachinery's managedfields over
// sigs.k8s.io/structured-merge-diff, typed by a converter built from the
// OpenAPI schemas shoal generates from its own Go types (api/openapi), so
// that lists merge by the keys Kubernetes' types declare.
//
// It works on JSON: the server hands it the stored object and the request's
// and gets back the object to store. It is the only importer of the
// managedfields libraries.
package fieldmanager
