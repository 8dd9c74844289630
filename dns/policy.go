package dns

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// sourcePolicy says whom the server resolves names outside the cluster
// for: the cluster's own clients. Anyone may ask for cluster names (the
// cluster domain and the reverse zones of the pod and service networks);
// a server that recurses for anyone is an open resolver, which strangers
// use to hide their traffic and to reflect amplified answers at victims.
type sourcePolicy struct {
	pods     netip.Prefix // the pod network; invalid when not configured
	loopback bool         // loopback sources recurse (always, but in tests)
	// nodes holds every address of every Node in the store.
	nodes atomic.Pointer[map[netip.Addr]struct{}]
}

func newSourcePolicy(pods netip.Prefix) *sourcePolicy {
	p := &sourcePolicy{pods: pods.Masked(), loopback: true}
	p.nodes.Store(&map[netip.Addr]struct{}{})
	return p
}

// recursion reports whether a source may have names outside the cluster
// resolved: loopback, the pod network, and the cluster's node addresses.
func (p *sourcePolicy) recursion(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if p.loopback && a.IsLoopback() {
		return true
	}
	if p.pods.IsValid() && p.pods.Contains(a) {
		return true
	}
	_, ok := (*p.nodes.Load())[a]
	return ok
}

// setNodes replaces the node addresses.
func (p *sourcePolicy) setNodes(addrs map[netip.Addr]struct{}) { p.nodes.Store(&addrs) }

// nodeCount is how many node addresses recurse, for Stats.
func (p *sourcePolicy) nodeCount() int { return len(*p.nodes.Load()) }

// sourceOf is the address a query came from; invalid when unknown.
func sourceOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
