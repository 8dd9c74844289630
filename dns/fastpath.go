package dns

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	mdns "github.com/miekg/dns"
)

// The fast path answers the usual UDP query, one question of class IN with
// at most a plain OPT record, from responses packed once per zone: the
// query is read in place and the answer copied out, with no Unpack, no
// Pack and no allocation. Everything else is unpacked and handed to
// ServeDNS (the slow path), which stays the one definition of an answer:
// the packed responses are built by the same code, and only from the
// zone's own records.

const (
	headerLen = 12
	// Header bits a fast-path query may carry: RD and CD are echoed in
	// the response as SetReply does, AD is ignored as ServeDNS ignores it.
	flagRD, flagAD, flagCD = 1 << 8, 1 << 5, 1 << 4
	flagRA                 = 1 << 7  // in the response's second flags octet
	ednsDO                 = 1 << 15 // in the OPT record's flags
	// Answers turning more ways than this are packed per query rather
	// than cached one message per turn.
	maxCachedTurns = 32
)

// rawQuery is a query the fast path takes, read from the packet.
type rawQuery struct {
	id, flags uint16
	name      []byte // the question name on the wire, as sent
	mixed     bool   // name has upper-case letters (0x20 randomisation)
	qtype     uint16
	edns, do  bool
	size      int // the most the response may hold: udpLimit of the query
}

// parseQuery reads a query the fast path can answer: header QR=0, opcode
// QUERY, no bits but RD, AD and CD, one question and nothing else but an
// OPT record with the root owner, version 0, no extended rcode or flags
// but DO, and no options; the name in plain labels of letters, digits, '-'
// and '_' (any other byte would be escaped in its presentation form); class
// IN and a type that is no meta type. Anything else goes to the slow path.
func parseQuery(p []byte) (q rawQuery, ok bool) {
	be := binary.BigEndian
	if len(p) < headerLen+5 {
		return q, false
	}
	q.id, q.flags = be.Uint16(p), be.Uint16(p[2:])
	if q.flags&^(flagRD|flagAD|flagCD) != 0 || be.Uint16(p[4:]) != 1 ||
		be.Uint16(p[6:]) != 0 || be.Uint16(p[8:]) != 0 || be.Uint16(p[10:]) > 1 {
		return q, false
	}
	off := headerLen
	for {
		if off >= len(p) {
			return q, false
		}
		l := int(p[off])
		if l == 0 {
			break
		}
		if l > 63 || off+1+l > len(p) { // also pointers and extended labels
			return q, false
		}
		for _, c := range p[off+1 : off+1+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				q.mixed = true
			default:
				return q, false
			}
		}
		off += 1 + l
	}
	off++
	if off-headerLen > 255 || off+4 > len(p) {
		return q, false
	}
	q.name = p[headerLen:off]
	q.qtype = be.Uint16(p[off:])
	if be.Uint16(p[off+2:]) != mdns.ClassINET {
		return q, false
	}
	switch q.qtype {
	case mdns.TypeNone, mdns.TypeOPT, mdns.TypeTKEY, mdns.TypeTSIG, mdns.TypeIXFR, mdns.TypeAXFR:
		return q, false
	}
	off += 4
	q.size = mdns.MinMsgSize
	if be.Uint16(p[10:]) == 1 {
		// Root owner, type OPT, class the UDP size, TTL extended rcode 0,
		// version 0 and the flags, no data.
		if off+11 != len(p) || p[off] != 0 || be.Uint16(p[off+1:]) != mdns.TypeOPT ||
			be.Uint16(p[off+5:]) != 0 || be.Uint16(p[off+7:])&^ednsDO != 0 || be.Uint16(p[off+9:]) != 0 {
			return q, false
		}
		q.edns, q.do = true, be.Uint16(p[off+7:])&ednsDO != 0
		q.size = int(min(max(be.Uint16(p[off+3:]), mdns.MinMsgSize), upstreamUDPSize))
		off += 11
	}
	return q, off == len(p)
}

// key is the cache key of q, appended to buf: the name in lower case, the
// type, EDNS and DO, and the size limit: all a response depends on but
// the id, the RD and CD bits and the spelling of the name, which are
// patched into a copy.
func (q *rawQuery) key(buf []byte) []byte {
	buf = append(buf[:0], q.name...)
	if q.mixed {
		for i := range q.name { // length bytes are at most 63, below 'A'
			if c := buf[i]; 'A' <= c && c <= 'Z' {
				buf[i] = c + 'a' - 'A'
			}
		}
	}
	var flags byte
	if q.edns {
		flags |= 1
	}
	if q.do {
		flags |= 2
	}
	return append(buf, byte(q.qtype>>8), byte(q.qtype), flags, byte(q.size>>8), byte(q.size))
}

// presentation is the name in presentation form, spelled as sent or in
// lower case. parseQuery let in no byte that would need escaping.
func (q *rawQuery) presentation(lower bool) string {
	if len(q.name) == 1 {
		return "."
	}
	var b strings.Builder
	b.Grow(len(q.name))
	for off := 0; q.name[off] != 0; off += 1 + int(q.name[off]) {
		b.Write(q.name[off+1 : off+1+int(q.name[off])])
		b.WriteByte('.')
	}
	if lower && q.mixed {
		return strings.ToLower(b.String())
	}
	return b.String()
}

// request is the query as a message, with the name spelled as given, id 0
// and no header bits: what ServeDNS would be handed, but for those.
func (q *rawQuery) request(name string) *mdns.Msg {
	r := new(mdns.Msg)
	r.Question = []mdns.Question{{Name: name, Qtype: q.qtype, Qclass: mdns.ClassINET}}
	if q.edns {
		r.SetEdns0(uint16(q.size), q.do)
	}
	return r
}

// fastAnswer is the zone's answer to one query key.
type fastAnswer struct {
	slow  bool // the zone cannot answer alone: forwarded, or chased upstream
	name  string
	req   *mdns.Msg // the query, in lower case
	res   result
	turns int            // see rotations
	turn  []packedAnswer // the response packed for each turn; nil when packed per query
}

// packedAnswer is one response as it goes on the wire, but for the id, the
// RD and CD bits and the spelling of the name.
type packedAnswer struct {
	msg   []byte
	rcode int
	tc    bool
	qtype uint16 // the question's type, for the Observer (set by fastReply)
	// owners are the offsets of the answer's owner names that are the
	// question's name: ServeDNS spells them as the client did, so the
	// client's spelling is copied there as well as into the question.
	owners []int
	// compressed responses (those cut to fit) may point into the question
	// from names spelled otherwise, so they serve only the spelling they
	// were packed for.
	compressed bool
}

// fastAnswerOf builds the answer of zone z to q, ready to cache. It is
// slow when the zone alone does not make the answer, or when building it
// panicked: the slow path then answers, and recovers and counts the panic.
func (s *Server) fastAnswerOf(z *zone, q *rawQuery) (a *fastAnswer) {
	defer func() {
		if recover() != nil {
			a = &fastAnswer{slow: true}
		}
	}()
	a = &fastAnswer{name: q.presentation(true)}
	a.req = q.request(a.name)
	if _, ok := s.reply(a.req); !ok {
		return &fastAnswer{slow: true}
	}
	a.res = z.lookup(a.name, q.qtype)
	if a.res.forward || a.res.chase != "" {
		return &fastAnswer{slow: true}
	}
	a.turns = rotations(a.res.answer)
	if a.turns > maxCachedTurns {
		return a
	}
	a.turn = make([]packedAnswer, a.turns)
	for k := range a.turns {
		p, err := s.pack(a, a.req, k)
		if err != nil {
			return &fastAnswer{slow: true}
		}
		a.turn[k] = p
	}
	return a
}

// memory estimates what a holds, for the cache's bound.
func (a *fastAnswer) memory() int {
	n := 128 + len(a.name)
	for _, p := range a.turn {
		n += 64 + len(p.msg) + 8*len(p.owners)
	}
	return n
}

// pack builds the response to req, a's query spelled as the client did or
// in lower case, turned round k times, as ServeDNS and write build it
// over UDP.
func (s *Server) pack(a *fastAnswer, req *mdns.Msg, k int) (p packedAnswer, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("packing a response panicked: %v", v)
		}
	}()
	m, ok := s.reply(req)
	if !ok {
		return p, fmt.Errorf("not a query for the zone")
	}
	fromZone(m, a.res, a.name, req.Question[0].Name, k)
	m.Truncate(udpLimit(req))
	b, err := m.Pack()
	if err != nil {
		return p, err
	}
	p = packedAnswer{msg: b, rcode: m.Rcode, tc: m.Truncated, compressed: m.Compress}
	if !p.compressed {
		p.owners, p.compressed = ownerOffsets(b, len(m.Answer))
	}
	return p, nil
}

// ownerOffsets finds, in an uncompressed response, the answer records
// whose owner is the question's name. It reports true (compressed) when
// the message does not read as an uncompressed one.
func ownerOffsets(b []byte, answers int) ([]int, bool) {
	end, ok := skipName(b, headerLen)
	if !ok {
		return nil, true
	}
	qname := b[headerLen:end]
	off := end + 4
	var owners []int
	for range answers {
		end, ok := skipName(b, off)
		if !ok || end+10 > len(b) {
			return nil, true
		}
		if bytes.Equal(b[off:end], qname) {
			owners = append(owners, off)
		}
		off = end + 10 + int(binary.BigEndian.Uint16(b[end+8:]))
	}
	return owners, off > len(b)
}

// skipName returns the end of the uncompressed name at off.
func skipName(b []byte, off int) (int, bool) {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l > 63:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

// fastReply answers a packet on the fast path: it writes the response
// into out and returns it, with its rcode and TC bit for the stats; false
// when the slow path must answer. key is scratch space for the cache key;
// recursion is the source's policy, which only the RA bit shows, since
// the fast path answers from the zone alone.
func (s *Server) fastReply(pkt, out []byte, key *[]byte, recursion bool) ([]byte, packedAnswer, bool) {
	q, ok := parseQuery(pkt)
	if !ok {
		return out, packedAnswer{}, false
	}
	z := s.zone.Load()
	if z == nil {
		return out, packedAnswer{}, false // SERVFAIL or forwarding: never cached
	}
	*key = q.key(*key)
	a := z.answers.get(*key)
	if a == nil {
		a = s.fastAnswerOf(z, &q)
		z.answers.put(string(*key), a, a.memory())
	}
	out, p, ok := s.respond(a, &q, out)
	if ok && !recursion {
		out[3] &^= flagRA
	}
	p.qtype = q.qtype
	return out, p, ok
}

// respond writes the response to q from a into out and returns it, with
// its rcode and TC bit for the stats; false when q must take the slow path.
func (s *Server) respond(a *fastAnswer, q *rawQuery, out []byte) ([]byte, packedAnswer, bool) {
	if a.slow {
		return out, packedAnswer{}, false
	}
	k := s.turnOf(a.turns)
	var p packedAnswer
	if a.turn != nil {
		p = a.turn[k]
	}
	if a.turn == nil || (q.mixed && p.compressed) {
		// Not kept, or kept for another spelling: pack this one.
		req := a.req
		if q.mixed {
			req = q.request(q.presentation(false))
		}
		var err error
		if p, err = s.pack(a, req, k); err != nil {
			return out, p, false
		}
	}
	out = append(out[:0], p.msg...)
	binary.BigEndian.PutUint16(out, q.id)
	out[2] = out[2]&^byte(flagRD>>8) | byte(q.flags>>8)&byte(flagRD>>8)
	out[3] = out[3]&^byte(flagCD) | byte(q.flags)&byte(flagCD)
	if q.mixed && !p.compressed {
		copy(out[headerLen:], q.name)
		for _, o := range p.owners {
			copy(out[o:], q.name)
		}
	}
	return out, p, true
}
