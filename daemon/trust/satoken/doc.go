// Package satoken makes and checks the service-account tokens pods use to
// reach the API, as Kubernetes' bound service-account tokens.
//
// A node signs the tokens of the pods bound to it with its own key, and the
// token carries the node's certificate, so that any agent checks it against
// the cluster's roots without asking the signer: the claims name the
// namespace, service account, pod (name and uid), node, and expiry. A token
// is valid only while its pod exists with that uid, on that node, running as
// that service account: deleting the pod revokes it, and a node can only
// speak for the pods it runs (as Kubernetes' NodeRestriction).
package satoken
