package dns

import (
	"strings"

	mdns "github.com/miekg/dns"
)

// maxChain bounds CNAME chains inside the zone (as CoreDNS does, 8 links).
const maxChain = 8

// result is the zone's answer to one question. Its slices may be the
// zone's own: read them, never write them.
type result struct {
	forward bool // not a cluster name: ask the upstreams
	auth    bool // the name is in one of our zones
	rcode   int
	answer  []mdns.RR
	ns      []mdns.RR
	extra   []mdns.RR
	// chase is a CNAME target outside the cluster that the answer still
	// needs, resolved through the upstreams as CoreDNS does for
	// ExternalName services.
	chase string
}

// lookup answers a question from the zone; name is lower case and absolute.
func (z *zone) lookup(name string, qtype uint16) result {
	apex := z.apexOf(name)
	if apex == "" {
		// A PTR record for an address outside the cluster's reverse zones:
		// answer what we know and let the upstreams say the rest.
		if n := z.nodes[name]; n != nil {
			if rrs := z.records(name, "", n, qtype); len(rrs) > 0 {
				return result{answer: rrs} // known, but not our zone: not authoritative
			}
		}
		return result{forward: true}
	}
	res := z.follow(name, apex, qtype)
	res.auth = true
	return res
}

// follow answers a name in our zones, following CNAMEs inside them.
func (z *zone) follow(name, apex string, qtype uint16) result {
	var chain []mdns.RR
	for {
		n := z.nodes[name]
		if n == nil {
			n = z.podNode(name)
		}
		if n == nil {
			return result{rcode: mdns.RcodeNameError, answer: chain, ns: z.soaOf(apex)}
		}
		if rrs := z.records(name, apex, n, qtype); len(rrs) > 0 {
			if chain != nil {
				rrs = append(chain, rrs...)
			}
			return result{answer: rrs, extra: z.targets(rrs)}
		}
		cname := n.get(mdns.TypeCNAME)
		if len(cname) == 0 || qtype == mdns.TypeCNAME {
			return result{answer: chain, ns: z.soaOf(apex)}
		}
		chain = append(chain, cname[0])
		target := cname[0].(*mdns.CNAME).Target
		if len(chain) >= maxChain {
			return result{answer: chain}
		}
		if apex = z.apexOf(target); apex == "" {
			return result{answer: chain, chase: target}
		}
		name = target
	}
}

// records returns the set of one type at a node (every set for ANY), with
// the SOA at an apex.
func (z *zone) records(name, apex string, n *node, qtype uint16) []mdns.RR {
	switch {
	case qtype == mdns.TypeANY:
		var all []mdns.RR
		if name == apex {
			all = append(all, z.soa[apex])
		}
		for _, set := range n.sets {
			all = append(all, set.rrs...)
		}
		return all
	case qtype == mdns.TypeSOA && name == apex:
		return []mdns.RR{z.soa[apex]}
	}
	return n.get(qtype)
}

func (z *zone) soaOf(apex string) []mdns.RR {
	if soa := z.soa[apex]; soa != nil {
		return []mdns.RR{soa}
	}
	return nil
}

// targets gives the addresses of the SRV targets in an answer, for the
// additional section, so clients need no second query.
func (z *zone) targets(answer []mdns.RR) []mdns.RR {
	var extra []mdns.RR
	var seen map[string]bool
	for _, rr := range answer {
		srv, ok := rr.(*mdns.SRV)
		if !ok || seen[srv.Target] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[srv.Target] = true
		if n := z.nodes[srv.Target]; n != nil {
			extra = append(extra, n.get(mdns.TypeA)...)
			extra = append(extra, n.get(mdns.TypeAAAA)...)
		}
	}
	return extra
}

// podNode makes the node of a pod name, <a-b-c-d>.<ns>.pod.<domain>, which
// answers for any valid address in any namespace (CoreDNS "pods insecure"),
// and the namespace level above it, which exists without records.
func (z *zone) podNode(name string) *node {
	rest, ok := strings.CutSuffix(name, "."+z.podZone)
	if !ok {
		return nil
	}
	ipLabel, ns, two := strings.Cut(rest, ".")
	if !two {
		if isLabel(rest) {
			return &node{}
		}
		return nil
	}
	if !isLabel(ns) {
		return nil
	}
	ip, ok := parseDashedIP(ipLabel)
	if !ok {
		return nil
	}
	hdr := mdns.RR_Header{Name: name, Class: mdns.ClassINET, Ttl: z.ttl}
	if ip.Is4() {
		hdr.Rrtype = mdns.TypeA
		return &node{sets: []rrset{{typ: mdns.TypeA, rrs: []mdns.RR{&mdns.A{Hdr: hdr, A: ip.AsSlice()}}}}}
	}
	hdr.Rrtype = mdns.TypeAAAA
	return &node{sets: []rrset{{typ: mdns.TypeAAAA, rrs: []mdns.RR{&mdns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()}}}}}
}
