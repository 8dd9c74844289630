// Package ingress is the HTTP reverse proxy every agent runs for Ingress
// objects: it routes a request by host and path to a ready endpoint of the
// Service the matching rule names.
//
// Run follows Ingresses, Services and Endpoints from the local replica and,
// on every change that matters, builds a new immutable routing table and
// swaps it in whole; requests read the current table without a lock.
//
// Matching follows the Kubernetes Ingress specification:
//
//   - A rule's host matches exactly (case-insensitively, without the port),
//     "*.example.com" matches exactly one label in front of example.com, and
//     a rule without a host matches every host.
//   - Among the paths of a host, an Exact path equal to the request path wins,
//     then the longest Prefix path. Prefix matches whole path elements: "/foo"
//     matches "/foo" and "/foo/bar" but not "/foobar", and a trailing slash in
//     the rule is ignored. ImplementationSpecific (or no type) is Prefix.
//   - The rules of every Ingress merge; when two claim the same host, path and
//     type, the oldest Ingress wins, then the first by namespace/name. The
//     same order picks the defaultBackend when several Ingresses have one.
//
// Decisions where the specification leaves room:
//
//   - Hosts are tried from the most specific down: a precise host, then the
//     wildcard, then the rules without a host. When the rules of a host have no
//     matching path, the less specific rules still get their chance before the
//     defaultBackend; a rule without a host means "every host" everywhere.
//   - The request path is matched after resolving "." and ".." segments and
//     repeated slashes, so that "/public/../admin" cannot reach the backend of
//     /public while meaning /admin to it; the request is forwarded unchanged.
//   - Requests nothing matches get a plain-text 404 naming host and path; a
//     route whose Service has no ready endpoint gets a 503, a backend that
//     fails gets a 502, one that times out a 504, and a client that left
//     before the answer is logged as 499.
//   - ingressClassName is not interpreted: every node serves every Ingress.
//
// # TLS
//
// ServeTLS serves the same routes over HTTPS (X-Forwarded-Proto https),
// terminating TLS with the certificates of the Ingresses' spec.tls: each
// entry's hosts (the Ingress's rule hosts when it lists none) are served
// with the key pair of its secretName, a Secret of type kubernetes.io/tls
// (tls.crt, tls.key) in the Ingress's namespace. A handshake gets the
// certificate of the name it asks for (SNI): the exact host, then the
// wildcard "*.example.com" one label up, else a default self-signed
// certificate made when the listener starts (ingress-nginx's "fake
// certificate"). When two Ingresses name a host, the older wins, as for
// routes. A host whose Secret is missing, of another type, does not parse,
// or whose certificate does not name the host gets the default certificate
// and a log line naming the Ingress, the Secret, the host and the reason,
// once, never the Secret's data. Run follows Secrets with the other kinds
// and keeps of them only their type, and the key pair of kubernetes.io/tls
// ones; certificates are rebuilt when an Ingress or a Secret one names
// changes, parsing only Secrets whose version changed.
package ingress
