package dns

import (
	"errors"
	"net"
	"runtime/debug"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

var _ mdns.Handler = (*Server)(nil)

// ServeDNS answers one message. It copes with any message that parsed: a
// panic is recovered, counted and answered SERVFAIL, so no query can stop
// the server.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	s.stats.queries.Add(1)
	var start time.Time
	if s.obs != nil {
		start = time.Now()
	}
	wrote := false
	defer func() {
		if v := recover(); v != nil {
			s.stats.panics.Add(1)
			s.log.Error("dns handler panicked", "panic", v, "stack", string(debug.Stack()))
			if !wrote && r != nil {
				s.fail(w, r)
				s.observe(r, mdns.RcodeServerFailure, start)
			}
		}
	}()
	m := s.answer(r, s.policy.recursion(sourceOf(w.RemoteAddr())))
	if m == nil {
		return
	}
	rc := s.write(w, r, m)
	wrote = true
	s.observe(r, rc, start)
}

// observe tells the Observer of an answer sent to r with rcode rc.
func (s *Server) observe(r *mdns.Msg, rc int, start time.Time) {
	if s.obs == nil || r == nil {
		return
	}
	var qtype uint16
	if len(r.Question) > 0 {
		qtype = r.Question[0].Qtype
	}
	s.obs.ObserveQuery(qtype, rc, time.Since(start))
}

// fail answers SERVFAIL, with nothing of the request but its id, after a
// panic or a response that would not go, so the client need not time out.
func (s *Server) fail(w mdns.ResponseWriter, r *mdns.Msg) {
	defer func() {
		if recover() != nil {
			s.stats.panics.Add(1)
		}
	}()
	m := &mdns.Msg{MsgHdr: mdns.MsgHdr{Id: r.Id, Response: true, Opcode: r.Opcode, Rcode: mdns.RcodeServerFailure}}
	if w.WriteMsg(m) == nil {
		s.stats.rcode(m.Rcode)
	}
}

// answer builds the response to r, or nil when r gets none. recursion
// says whether its source may have names outside the cluster resolved;
// others get those REFUSED, and an ExternalName's CNAME without the
// target's records (which they can ask their own resolver for).
func (s *Server) answer(r *mdns.Msg, recursion bool) *mdns.Msg {
	m, ok := s.reply(r)
	if !ok {
		if m != nil {
			m.RecursionAvailable = recursion
		}
		return m
	}
	m.RecursionAvailable = recursion
	q := r.Question[0]
	name := strings.ToLower(q.Name)

	z := s.zone.Load()
	if z == nil {
		if apexIn(s.apexes, name) != "" {
			// Not synced yet: an NXDOMAIN now would be cached as a lie.
			m.Rcode = mdns.RcodeServerFailure
			return m
		}
		return s.forward(m, name, q, recursion)
	}
	res := z.lookup(name, q.Qtype)
	if res.forward {
		return s.forward(m, name, q, recursion)
	}
	fromZone(m, res, name, q.Name, s.turnOf(rotations(res.answer)))
	if res.chase != "" && recursion {
		up, err := s.fwd.resolve(s.ctx, res.chase, q.Qtype, q.Qclass)
		if err != nil {
			m.Rcode = mdns.RcodeServerFailure
			return m
		}
		// The rcode is the chain's last name's (RFC 6604).
		m.Rcode = up.rcode
		m.Answer = append(m.Answer[:len(m.Answer):len(m.Answer)], up.answer...)
		if len(up.answer) == 0 {
			m.Ns = up.ns
		}
	}
	return m
}

// reply starts the response to r: header, question and OPT record. It
// reports false when that is the whole response (nil when r gets none),
// and true when r asks one valid question of class IN for the zone or
// the upstreams to answer.
func (s *Server) reply(r *mdns.Msg) (*mdns.Msg, bool) {
	if r == nil || r.Response {
		// Answering a response could start a loop between two servers.
		s.stats.rejected.Add(1)
		return nil, false
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	m.Question = nil
	if len(r.Question) == 1 {
		m.Question = []mdns.Question{r.Question[0]}
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(upstreamUDPSize, false)
		if opt.Version() != 0 {
			m.Rcode = mdns.RcodeBadVers
			return m, false
		}
	}
	switch {
	case r.Opcode != mdns.OpcodeQuery:
		m.Rcode = mdns.RcodeNotImplemented
		return m, false
	case len(r.Question) != 1:
		m.Rcode = mdns.RcodeFormatError
		return m, false
	}
	q := r.Question[0]
	switch {
	case q.Qclass != mdns.ClassINET:
		m.Rcode = mdns.RcodeNotImplemented
		return m, false
	case q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR:
		m.Rcode = mdns.RcodeRefused // no zone transfers
		return m, false
	case q.Qtype == mdns.TypeOPT || q.Qtype == mdns.TypeTSIG || q.Qtype == mdns.TypeTKEY || q.Qtype == mdns.TypeNone:
		m.Rcode = mdns.RcodeFormatError // meta types are no questions
		return m, false
	}
	if _, ok := mdns.IsDomainName(q.Name); !ok || !mdns.IsFqdn(q.Name) {
		m.Question = nil // it would not pack
		m.Rcode = mdns.RcodeFormatError
		return m, false
	}
	return m, true
}

// fromZone fills the reply m with the zone's answer res to a question for
// name (lower case), spelled asked by the client, turned round k times.
func fromZone(m *mdns.Msg, res result, name, asked string, k int) {
	m.Authoritative = res.auth
	m.Rcode = res.rcode
	m.Answer = rotated(owned(res.answer, name, asked), k)
	m.Ns, m.Extra = res.ns, append(res.extra[:len(res.extra):len(res.extra)], m.Extra...)
}

// forward answers a name outside the cluster from the upstreams, for a
// source that may recurse; REFUSED for any other.
func (s *Server) forward(m *mdns.Msg, name string, q mdns.Question, recursion bool) *mdns.Msg {
	if !recursion {
		s.stats.refused.Add(1)
		m.Rcode = mdns.RcodeRefused
		return m
	}
	up, err := s.fwd.resolve(s.ctx, name, q.Qtype, q.Qclass)
	if err != nil {
		if !errors.Is(err, ErrNoUpstream) && !errors.Is(err, ErrUpstream) && !errors.Is(err, ErrBusy) {
			s.log.Debug("forwarding failed", "name", name, "error", err)
		}
		m.Rcode = mdns.RcodeServerFailure
		return m
	}
	m.Rcode = up.rcode
	m.Answer, m.Ns = up.answer, up.ns
	m.Extra = append(up.extra[:len(up.extra):len(up.extra)], m.Extra...)
	return m
}

// owned gives the answer the owner name as the client spelled it; the zone
// keeps lower-case names, and clients compare case as sent (0x20 checks).
func owned(answer []mdns.RR, lower, asked string) []mdns.RR {
	if lower == asked || len(answer) == 0 {
		return answer
	}
	out := make([]mdns.RR, len(answer))
	for i, rr := range answer {
		if rr.Header().Name == lower {
			rr = mdns.Copy(rr)
			rr.Header().Name = asked
		}
		out[i] = rr
	}
	return out
}

// rotations is how many ways an answer turns round: its length for a set
// of several A, AAAA or SRV records, so clients that take the first record
// spread over the backends; 1 for any other answer.
func rotations(answer []mdns.RR) int {
	if len(answer) < 2 {
		return 1
	}
	t := answer[0].Header().Rrtype
	if t != mdns.TypeA && t != mdns.TypeAAAA && t != mdns.TypeSRV {
		return 1
	}
	for _, rr := range answer[1:] {
		if rr.Header().Rrtype != t {
			return 1
		}
	}
	return len(answer)
}

// turnOf picks the turn of this query for an answer that turns n ways:
// one more than the last query's, so the first record goes round.
func (s *Server) turnOf(n int) int {
	if n < 2 {
		return 0
	}
	return int(s.turn.Add(1) % uint32(n))
}

// rotated returns answer turned round by k records.
func rotated(answer []mdns.RR, k int) []mdns.RR {
	if k == 0 {
		return answer
	}
	out := make([]mdns.RR, 0, len(answer))
	return append(append(out, answer[k:]...), answer[:k]...)
}

// write sends m, cut to what the client can receive over UDP, and counts it.
func (s *Server) write(w mdns.ResponseWriter, r, m *mdns.Msg) int {
	size := mdns.MaxMsgSize
	if isUDP(w) {
		size = udpLimit(r)
	}
	m.Truncate(size)
	if m.Truncated {
		s.stats.truncated.Add(1)
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("writing a dns response failed", "error", err)
		s.fail(w, r)
		return mdns.RcodeServerFailure
	}
	s.stats.rcode(m.Rcode)
	return m.Rcode
}

// udpLimit is the most a UDP response to r may hold: 512 bytes, or the
// client's EDNS size up to 1232.
func udpLimit(r *mdns.Msg) int {
	if opt := r.IsEdns0(); opt != nil {
		return int(min(max(opt.UDPSize(), mdns.MinMsgSize), upstreamUDPSize))
	}
	return mdns.MinMsgSize
}

func isUDP(w mdns.ResponseWriter) bool {
	if a := w.LocalAddr(); a != nil {
		_, tcp := a.(*net.TCPAddr)
		return !tcp
	}
	return true
}
