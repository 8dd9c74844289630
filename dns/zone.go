package dns

import (
	"slices"

	mdns "github.com/miekg/dns"
)

// zone is an immutable set of records built from one state of the cluster.
// Queries read it without a lock; a new state makes a new zone.
type zone struct {
	domain  string          // the cluster domain, "cluster.local."
	podZone string          // "pod.cluster.local."
	apexes  map[string]bool // the cluster domain and the cluster's reverse zones
	ttl     uint32
	// nodes holds every name of the zone, lower case and absolute. A node
	// without records is an empty non-terminal (an existing name: NODATA).
	// Names outside the apexes are PTR records for addresses the cluster
	// knows outside its reverse zones.
	nodes map[string]*node
	size  int // records, for Stats
	// Set once before the zone is published.
	serial uint32
	soa    map[string]*mdns.SOA // by apex
	// answers are the fast path's packed answers from this zone; a new
	// zone starts with none, so none outlives a change.
	answers answerCache
}

// node is one name and its records: one set per type, sorted by type. A
// slice, not a map: most names hold one or two types.
type node struct {
	sets []rrset
}

type rrset struct {
	typ uint16
	rrs []mdns.RR
}

// get returns the records of one type.
func (n *node) get(t uint16) []mdns.RR {
	for _, s := range n.sets {
		if s.typ == t {
			return s.rrs
		}
	}
	return nil
}

// equal reports two zones that answer every query alike (serials aside).
func (z *zone) equal(o *zone) bool {
	if z == nil || o == nil {
		return z == o
	}
	if z.domain != o.domain || z.ttl != o.ttl || z.size != o.size || len(z.nodes) != len(o.nodes) || len(z.apexes) != len(o.apexes) {
		return false
	}
	for a := range z.apexes {
		if !o.apexes[a] {
			return false
		}
	}
	for name, n := range z.nodes {
		m, ok := o.nodes[name]
		if !ok || len(n.sets) != len(m.sets) {
			return false
		}
		for i, set := range n.sets {
			if set.typ != m.sets[i].typ || !slices.EqualFunc(set.rrs, m.sets[i].rrs, sameRR) {
				return false
			}
		}
	}
	return true
}

func sameRR(a, b mdns.RR) bool {
	return a.Header().Ttl == b.Header().Ttl && mdns.IsDuplicate(a, b)
}

// publish fixes the serial and the SOA records of a zone about to be served.
func (z *zone) publish(serial uint32) {
	z.serial = serial
	z.soa = make(map[string]*mdns.SOA, len(z.apexes))
	for apex := range z.apexes {
		z.soa[apex] = &mdns.SOA{
			Hdr:     mdns.RR_Header{Name: apex, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: z.ttl},
			Ns:      "ns.dns." + z.domain,
			Mbox:    "hostmaster." + z.domain,
			Serial:  serial,
			Refresh: 7200,
			Retry:   1800,
			Expire:  86400,
			Minttl:  z.ttl,
		}
	}
}

// apexOf returns the apex of the zone a name falls in, or "".
func (z *zone) apexOf(name string) string { return apexIn(z.apexes, name) }

func apexIn(apexes map[string]bool, name string) string {
	for n := name; n != ""; n = parentOf(n) {
		if apexes[n] {
			return n
		}
	}
	return ""
}
