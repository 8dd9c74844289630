// Package identity is the cluster's identity, Swarm-style: the cluster CA
// (ECDSA P-256), the node certificates it issues, the join tokens that let a
// new agent in, and the trust bundle every agent checks its peers with.
//
// What lives where:
//
//	<data-dir>/identity/node.key   this agent's private key (never leaves the host)
//	<data-dir>/identity/node.crt   its certificate chain, issued by the cluster CA
//	<data-dir>/identity/ca.crt     the CA certificates this agent trusts
//	cluster record x/ca            the CA's certificate and key, and the trust bundle
//	cluster record x/join          the hash of the current join secret
//	cluster record x/keyring       the gossip encryption keys
//
// The x/ records are replicated like every other record (over encrypted
// gossip and mutual TLS) and are encrypted in state.db, so that any agent can
// admit a new one and renew its own certificate: there is no CA host.
//
// Join protocol (join.go): the new agent fetches the trust bundle from the
// agent it joins through, keeps only the CA whose fingerprint the join token
// names, and then, over TLS verified against that CA, proves the token's
// secret and sends a certificate request. It receives its certificate, the
// trust bundle and the gossip keyring.
package identity
