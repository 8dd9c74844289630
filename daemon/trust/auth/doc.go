// Package auth decides who may use the API: it authenticates requests (a
// bearer token of a Token object, or a client certificate of the cluster's
// CA) and authorises them with Kubernetes-shaped RBAC (Roles, ClusterRoles
// and their bindings), evaluated from an in-memory copy of those objects
// that follows the store. It also holds the built-in roles every cluster
// has, and refuses writes that would escalate the writer's own permissions.
package auth
