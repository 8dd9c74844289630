package dns

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// zoneOptions are the settings the builder needs.
type zoneOptions struct {
	domain  string // "cluster.local."
	ttl     uint32
	reverse []netip.Prefix
}

func (s settings) zoneOptions() zoneOptions {
	o := zoneOptions{domain: s.domain, ttl: s.ttl}
	for _, p := range []netip.Prefix{s.ClusterCIDR, s.ServiceCIDR} {
		if p.IsValid() {
			o.reverse = append(o.reverse, p)
		}
	}
	return o
}

// apexes lists the zones the server is authoritative for.
func (o zoneOptions) apexes() map[string]bool {
	m := map[string]bool{o.domain: true}
	for _, p := range o.reverse {
		for _, z := range reverseZones(p) {
			m[z] = true
		}
	}
	return m
}

// PTR owners by preference: a service's own address names the service, an
// endpoint with a hostname names the endpoint, any other pod its pod name.
const (
	ptrService = iota
	ptrEndpoint
	ptrPod
)

type ptrCandidate struct {
	rank   int
	target string
}

type builder struct {
	o     zoneOptions
	z     *zone
	ptr   map[netip.Addr]ptrCandidate
	svcNS string // "svc.cluster.local."
}

// buildZone is a pure function of the options and the reduced objects: the
// same input always gives an equal zone.
func buildZone(o zoneOptions, objs objects) *zone {
	z := &zone{
		domain:  o.domain,
		podZone: "pod." + o.domain,
		apexes:  o.apexes(),
		ttl:     o.ttl,
		// Sized for a name per service, endpoint and PTR, and the levels above.
		nodes: make(map[string]*node, 4*len(objs.services)+3*len(objs.pods)),
	}
	b := &builder{o: o, z: z, ptr: make(map[netip.Addr]ptrCandidate, len(objs.pods)), svcNS: "svc." + o.domain}
	for apex := range z.apexes {
		b.add(apex, &mdns.NS{Hdr: b.hdr(apex, mdns.TypeNS), Ns: "ns.dns." + o.domain})
	}
	b.touch(b.svcNS)
	b.touch(z.podZone)

	svcs := slices.Clone(objs.services)
	slices.SortFunc(svcs, func(a, c service) int { return cmp.Or(cmp.Compare(a.ns, c.ns), cmp.Compare(a.name, c.name)) })
	for _, s := range svcs {
		b.service(s, objs.endpoints[key(s.ns, s.name)])
	}
	for _, p := range objs.pods {
		for _, ip := range p.ips {
			b.offerPTR(ip, ptrPod, dashedIP(ip)+"."+p.ns+"."+z.podZone)
		}
	}
	for ip, c := range b.ptr {
		owner := reverseName(ip)
		b.add(owner, &mdns.PTR{Hdr: b.hdr(owner, mdns.TypePTR), Ptr: c.target})
	}
	b.finish()
	return z
}

func (b *builder) service(s service, eps endpoints) {
	name := s.name + "." + s.ns + "." + b.svcNS
	b.touch(name)
	switch s.kind {
	case svcExternal:
		if s.external != "" && s.external != name {
			b.add(name, &mdns.CNAME{Hdr: b.hdr(name, mdns.TypeCNAME), Target: s.external})
		}
		return
	case svcClusterIP:
		for _, ip := range s.ips {
			b.add(name, b.addrRR(name, ip))
			b.offerPTR(ip, ptrService, name)
			for _, p := range s.ports {
				b.srv(name, p, name)
			}
		}
	}
	// Endpoint names exist for every service with endpoints, as in CoreDNS;
	// only a headless service also answers with the endpoints themselves.
	for _, sub := range eps.subsets {
		addrs := sub.ready
		if s.publishNotReady {
			addrs = append(slices.Clone(addrs), sub.notReady...)
		}
		for _, a := range addrs {
			label := a.hostname
			if label == "" {
				label = dashedIP(a.ip)
			}
			ep := label + "." + name
			b.add(ep, b.addrRR(ep, a.ip))
			if a.hostname != "" {
				b.offerPTR(a.ip, ptrEndpoint, ep)
			}
			if s.kind != svcHeadless {
				continue
			}
			b.add(name, b.addrRR(name, a.ip))
			for _, p := range sub.ports {
				b.srv(name, p, ep)
			}
		}
	}
}

// srv adds the SRV record of one port: under the service name itself (every
// port, as CoreDNS answers) and under _port._proto for named ports.
func (b *builder) srv(svcName string, p port, target string) {
	rr := func(owner string) *mdns.SRV {
		return &mdns.SRV{Hdr: b.hdr(owner, mdns.TypeSRV), Priority: 0, Weight: 100, Port: p.port, Target: target}
	}
	b.add(svcName, rr(svcName))
	if p.name != "" {
		owner := "_" + p.name + "._" + p.proto + "." + svcName
		b.add(owner, rr(owner))
	}
}

func (b *builder) offerPTR(ip netip.Addr, rank int, target string) {
	c, ok := b.ptr[ip]
	if !ok || rank < c.rank || (rank == c.rank && target < c.target) {
		b.ptr[ip] = ptrCandidate{rank: rank, target: target}
	}
}

func (b *builder) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: b.o.ttl}
}

func (b *builder) addrRR(name string, ip netip.Addr) mdns.RR {
	if ip.Is4() {
		return &mdns.A{Hdr: b.hdr(name, mdns.TypeA), A: ip.AsSlice()}
	}
	return &mdns.AAAA{Hdr: b.hdr(name, mdns.TypeAAAA), AAAA: ip.AsSlice()}
}

// node returns the node of name, creating it and the levels above; nil
// for a name that cannot go on the wire (too long), which gets no records.
func (b *builder) node(name string) *node {
	n := b.z.nodes[name]
	if n == nil {
		if !packableName(name) {
			return nil
		}
		n = &node{}
		b.z.nodes[name] = n
		// Every ancestor inside our zones exists too (an empty non-terminal).
		if apex := b.z.apexOf(name); apex != "" && name != apex {
			b.node(parentOf(name))
		}
	}
	return n
}

func (b *builder) touch(name string) { b.node(name) }

// add adds rr to the node of name. A record whose owner or target cannot
// be packed is left out: it would fail every answer holding it.
func (b *builder) add(name string, rr mdns.RR) {
	if t := targetOf(rr); t != "" && !packableName(t) {
		return
	}
	n := b.node(name)
	if n == nil {
		return
	}
	t := rr.Header().Rrtype
	for i := range n.sets {
		if n.sets[i].typ == t {
			n.sets[i].rrs = append(n.sets[i].rrs, rr)
			return
		}
	}
	n.sets = append(n.sets, rrset{typ: t, rrs: []mdns.RR{rr}})
}

// targetOf is the name a record points to, "" for records without one.
func targetOf(rr mdns.RR) string {
	switch r := rr.(type) {
	case *mdns.CNAME:
		return r.Target
	case *mdns.SRV:
		return r.Target
	case *mdns.PTR:
		return r.Ptr
	case *mdns.NS:
		return r.Ns
	}
	return ""
}

// finish sorts and de-duplicates every set, shares SRV weight between the
// records of a set, and counts the records.
func (b *builder) finish() {
	for _, n := range b.z.nodes {
		slices.SortFunc(n.sets, func(x, y rrset) int { return cmp.Compare(x.typ, y.typ) })
		for i := range n.sets {
			rrs := n.sets[i].rrs
			if len(rrs) > 1 {
				slices.SortFunc(rrs, compareRR)
				rrs = slices.CompactFunc(rrs, func(x, y mdns.RR) bool { return compareRR(x, y) == 0 })
				n.sets[i].rrs = rrs
			}
			if n.sets[i].typ == mdns.TypeSRV {
				w := uint16(max(1, 100/len(rrs)))
				for _, rr := range rrs {
					rr.(*mdns.SRV).Weight = w
				}
			}
			b.z.size += len(rrs)
		}
	}
}

// compareRR orders the records of one set (one owner, one type, one TTL)
// by their data.
func compareRR(x, y mdns.RR) int {
	switch a := x.(type) {
	case *mdns.A:
		return bytes.Compare(a.A, y.(*mdns.A).A)
	case *mdns.AAAA:
		return bytes.Compare(a.AAAA, y.(*mdns.AAAA).AAAA)
	case *mdns.SRV:
		c := y.(*mdns.SRV)
		return cmp.Or(cmp.Compare(a.Port, c.Port), strings.Compare(a.Target, c.Target))
	}
	return strings.Compare(x.String(), y.String())
}
