// Package wireguard is the pod network's encrypted backend: a WireGuard
// device (userspace wireguard-go over a TUN device) whose peers are the
// other nodes, and the binding of each node's WireGuard key to its cluster
// identity.
//
// # Keys
//
// A node's WireGuard private key is made on the node and never leaves it:
// KeyForCertificate keeps it in <data-dir>/identity/wireguard.key (mode
// 0600) together with the fingerprint of the node certificate it was made
// for, and makes a new one when the certificate changes (a renewal or a CA
// rotation), so that the key rotates with the certificate. LoadNodeKey
// gives the agent the key, its public half and the signed annotation in
// one call; Tunnel.SetPrivateKey puts a new key into a running tunnel.
//
// The public key is published in the Node's annotation shoal.dev/wireguard-key,
// signed with the node's certificate key (SignKey):
//
//	v1.<public key>.<signature>.<certificate chain>
//
// each part unpadded base64url: the 32-byte key, an ECDSA P-256 signature
// over SHA-256("shoal wireguard key" || node name || public key ||
// SHA-256 of the leaf certificate || its NotAfter), and the DER of the
// node's certificate chain (leaf first). VerifyKey accepts it only if the
// chain leads to a CA the verifier trusts, the leaf names the Node the
// annotation is on, the signature holds and the certificate has not
// expired: a key from another cluster, from another node, tampered with or
// unsigned is refused.
//
// # Tunnel
//
// New makes the device (default name shoal.wg), gives it the node's tunnel
// address, MTU and listening port (UDP 51820) and sets it up. SetPeers
// replaces the whole peer list: each peer's signed key is verified first
// (a peer that fails is refused, logged once and never configured), peers
// no longer listed are removed, sessions of unchanged peers are kept, and
// the Tunnel keeps exactly one route "<allowed prefix> dev shoal.wg" per
// allowed prefix of a configured peer (route protocol 0x89), unless
// Config.LeaveRoutes leaves routing to the caller (the agent's pod network
// Router, which owns every route to a node's pods). A new peer is
// greeted with a keepalive, which starts a handshake at once (the node
// with the higher public key a second later, so that two nodes do not
// start colliding handshakes), and every 25 s after. Handshakes reports
// the last handshake per peer. Close removes the device, and with it every
// route through it; wireguard-go's goroutines end with it. Done is closed
// when the device stops by itself (deleted from outside); Healthy says
// whether it still receives on its port.
//
// With Config.NetNS the device, its UDP sockets and its routes live in
// that network namespace, whatever thread the caller runs on (tests use
// this; the agent uses its own namespace).
package wireguard
