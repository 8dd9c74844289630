// Package packetcapture records every frame on one interface of a network
// namespace, as tcpdump would, for tests that must show what crossed a link
// (that a tunnel's payload is not readable there, or that it is without
// the tunnel). Linux only: it opens a raw AF_PACKET socket inside the
// namespace.
package packetcapture
