package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/gossip"
)

// Concurrent edits of one object (docs/consistency.md). Every object
// record (spec "o/" and status "s/") carries, in a member "@" written
// first, what the field-level merge needs:
//
//   - m: 1 when what readers see is a merge of writes, no single write's
//     (the resourceVersion then carries the content's sum: the version
//     is its newest input's);
//   - b: the version and content sum of the record this write replaced,
//     so that an agent holding exactly that record takes the write
//     without decoding anything;
//   - c: the version that created this incarnation of the object (for a
//     status, the object's): a delete is a tombstone that wins over every
//     record of an incarnation created before it, and a later incarnation
//     wins over an earlier one whole;
//   - f: the stamp of every register (fields.go) written after the
//     creation: the version of the write that set it, the stamp it
//     replaced (to tell a concurrent edit from a later one), the user who
//     wrote it, and whether the write removed it;
//   - g: the generation as a counter per agent (the sum is
//     metadata.generation), so that two edits of the spec made apart
//     count twice and the merged spec is seen as new;
//   - w: the newest write's whole object, in a merged record whose
//     rendering is not it (needed should a later merge fail validation);
//   - j: the registers of every write merged, when they did not make a
//     valid object (the rendering is then the newest write's object).
//
// An empty stamp means the record's own version. The merge of two records
// is the union of their registers, each decided by the newer stamp: it is
// commutative, associative and idempotent, and every agent renders it into
// the same bytes.
type mergeMeta struct {
	Merged  int              `json:"m,omitempty"` // 1: the rendering is a merge, no single write's
	Base    string           `json:"b,omitempty"`
	Created string           `json:"c,omitempty"`
	Fields  map[string]stamp `json:"f,omitempty"`
	Gen     map[string]int64 `json:"g,omitempty"`
	Whole   json.RawMessage  `json:"w,omitempty"`
	Joined  json.RawMessage  `json:"j,omitempty"`
}

// stamp is the state of one register written after the creation.
type stamp struct {
	V    string `json:"v,omitempty"` // version of the write ("" = the record's)
	Prev string `json:"p,omitempty"` // the stamp it replaced ("" = the creation)
	By   string `json:"u,omitempty"` // the user who wrote it, when known
	Gone bool   `json:"x,omitempty"` // the write removed the register
}

// metaMember is the member holding mergeMeta, first in every record.
const metaMember = "@"

var metaPrefix = []byte(`{"` + metaMember + `":`)

// skipped are the members that are not registers: the merge data itself,
// and metadata the registry computes.
var skippedPaths = []string{"metadata/generation", "metadata/resourceVersion"}

func parseVersion(s string) (gossip.Version, error) {
	t, node, ok := strings.Cut(s, "@")
	if !ok {
		return gossip.Version{}, fmt.Errorf("stamp %q is not <time>@<node>", clip(s))
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || node == "" {
		return gossip.Version{}, fmt.Errorf("stamp %q is not <time>@<node>", clip(s))
	}
	return gossip.Version{Time: n, Node: node}, nil
}

// abs turns a stamp relative to the record's version into a version.
func abs(s string, self gossip.Version) (gossip.Version, error) {
	if s == "" {
		return self, nil
	}
	return parseVersion(s)
}

// rel writes a version relative to the version of the record it is in.
func rel(v, self gossip.Version) string {
	if v == self {
		return ""
	}
	return v.String()
}

func baseOf(r *gossip.Record) string {
	return r.Version.String() + "/" + strconv.FormatUint(r.Sum(), 16)
}

// splitRecord separates a stored value into its merge data and the rest
// (the object's JSON, or the status envelope); a value without merge data
// (written before it existed) has none.
func splitRecord(value []byte) (mergeMeta, []byte, error) {
	var m mergeMeta
	if !bytes.HasPrefix(value, metaPrefix) {
		return m, value, nil
	}
	d := json.NewDecoder(bytes.NewReader(value[len(metaPrefix):]))
	if err := d.Decode(&m); err != nil {
		return m, nil, fmt.Errorf("the merge data: %s", jsonProblem(err))
	}
	rest := bytes.TrimLeft(value[len(metaPrefix)+int(d.InputOffset()):], " \t\r\n")
	switch {
	case len(rest) > 0 && rest[0] == ',':
		return m, append([]byte{'{'}, rest[1:]...), nil
	case len(rest) > 0 && rest[0] == '}':
		return m, []byte("{}"), nil
	}
	return m, nil, fmt.Errorf("the merge data is not followed by the object")
}

// joinRecord writes merge data in front of an object's JSON.
func joinRecord(m mergeMeta, obj []byte) []byte {
	head, _ := json.Marshal(m) // plain data: never fails
	out := make([]byte, 0, len(metaPrefix)+len(head)+len(obj)+1)
	out = append(out, metaPrefix...)
	out = append(out, head...)
	if len(obj) > 2 {
		out = append(out, ',')
		out = append(out, obj[1:]...)
	} else {
		out = append(out, '}')
	}
	return out
}

// plainValue returns the object's JSON of a stored value, without the
// merge data: what decoders read.
func plainValue(value []byte) []byte {
	_, obj, err := splitRecord(value)
	if err != nil {
		return value
	}
	return obj
}

// reg is one register of a decoded state.
type reg struct {
	val  []byte // nil when removed
	at   gossip.Version
	prev gossip.Version
	by   string
}

// state is a record decoded for merging.
type state struct {
	rec     *gossip.Record
	created gossip.Version
	regs    map[string]reg
	gen     map[string]int64
	render  []byte // what readers see (the object's JSON)
	whole   []byte // the newest write's object
	joined  bool   // regs did not make a valid object: render is whole
}

// decodeState reads a record's registers and stamps. legacyCreated is the
// creation version of a record written before merge data existed.
func decodeState(r *gossip.Record, legacyCreated gossip.Version) (*state, error) {
	m, obj, err := splitRecord(r.Value)
	if err != nil {
		return nil, err
	}
	s := &state{rec: r, render: obj, whole: obj, gen: m.Gen, created: legacyCreated}
	if m.Created != "" || bytes.HasPrefix(r.Value, metaPrefix) {
		if s.created, err = abs(m.Created, r.Version); err != nil {
			return nil, err
		}
	}
	src := obj
	if len(m.Joined) > 0 {
		src, s.joined = m.Joined, true
	}
	if len(m.Whole) > 0 {
		s.whole = m.Whole
	}
	root, err := parseJSON(src)
	if err != nil {
		return nil, err
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the value is not a JSON object")
	}
	vals := flatten(top)
	for _, p := range skippedPaths {
		delete(vals, p)
	}
	s.regs = make(map[string]reg, len(vals)+len(m.Fields))
	for p, v := range vals {
		s.regs[p] = reg{val: v, at: s.created}
	}
	for p, st := range m.Fields {
		at, err := abs(st.V, r.Version)
		if err != nil {
			return nil, err
		}
		prev := s.created
		if st.Prev != "" {
			if prev, err = parseVersion(st.Prev); err != nil {
				return nil, err
			}
		}
		g := reg{at: at, prev: prev, by: st.By}
		if !st.Gone {
			v, ok := vals[p]
			if !ok {
				return nil, fmt.Errorf("the merge data stamps a field the object lacks")
			}
			g.val = v
		}
		s.regs[p] = g
	}
	return s, nil
}

// generation is the sum of the per-agent counters.
func generation(g map[string]int64) int64 {
	var n int64
	for _, c := range g {
		n += c
	}
	return n
}

// encodeState writes the merge data of a state at version self.
func (s *state) meta(self gossip.Version) mergeMeta {
	m := mergeMeta{Created: rel(s.created, self), Gen: s.gen}
	for p, g := range s.regs {
		if g.val != nil && g.at == s.created {
			continue
		}
		if m.Fields == nil {
			m.Fields = map[string]stamp{}
		}
		st := stamp{V: rel(g.at, self), By: g.by, Gone: g.val == nil}
		if g.prev != s.created {
			st.Prev = g.prev.String()
		}
		m.Fields[p] = st
	}
	return m
}

// stampWrite returns the value of a local write of obj (the object's JSON,
// or a status envelope) over cur, the record it replaces (nil or a
// tombstone for a new one). created is the incarnation's creation version
// (zero: this write's own); gen, when not nil, is the generation counters
// the write leaves. Registers whose value is unchanged keep their stamps;
// the others get this write's.
func stampWrite(cur *gossip.Record, obj []byte, created gossip.Version, by string, gen map[string]int64) ([]byte, error) {
	var old *state
	if cur != nil && !cur.Deleted {
		var err error
		if old, err = decodeState(cur, cur.Version); err != nil {
			old = nil // unreadable merge data: this write starts afresh
		}
		if old != nil && old.created != created {
			old = nil // another incarnation
		}
	}
	m := mergeMeta{Gen: gen}
	if !created.IsZero() {
		m.Created = created.String()
	}
	if old == nil {
		return joinRecord(m, obj), nil
	}
	m.Base = baseOf(cur)
	root, err := parseJSON(obj)
	if err != nil {
		return nil, err
	}
	top, _ := root.(map[string]any)
	vals := flatten(top)
	for _, p := range skippedPaths {
		delete(vals, p)
	}
	keep := func(p string, g reg) {
		if g.val != nil && g.at == old.created {
			return
		}
		if m.Fields == nil {
			m.Fields = map[string]stamp{}
		}
		st := stamp{V: g.at.String(), By: g.by, Gone: g.val == nil}
		if g.prev != old.created {
			st.Prev = g.prev.String()
		}
		m.Fields[p] = st
	}
	written := func(p string, g reg, gone bool) {
		if m.Fields == nil {
			m.Fields = map[string]stamp{}
		}
		st := stamp{By: by, Gone: gone}
		if g.at != old.created {
			st.Prev = g.at.String()
		}
		m.Fields[p] = st
	}
	for p, v := range vals {
		g, had := old.regs[p]
		switch {
		case had && bytes.Equal(g.val, v):
			keep(p, g)
		case had:
			written(p, g, false)
		default:
			written(p, reg{at: old.created}, false)
		}
	}
	for p, g := range old.regs {
		if _, ok := vals[p]; ok {
			continue
		}
		if g.val == nil {
			keep(p, g)
		} else {
			written(p, g, true)
		}
	}
	return joinRecord(m, obj), nil
}

// Conflict is an edit of one field made on two agents apart, of which the
// merge kept one (the newer): Winner and Loser are the writes.
type Conflict struct {
	Key    string // the record's key
	Path   string // the field, as a path (fieldPath renders it)
	Winner Write
	Loser  Write
}

// Write names a write: its version (time and agent), its user, if known,
// and the value it gave the field (JSON; nil if it removed it).
type Write struct {
	Version gossip.Version
	User    string
	Value   []byte
}

// merged is the result of joining two states of one incarnation.
type merged struct {
	regs      map[string]reg
	gen       map[string]int64
	conflicts []Conflict
}

// joinStates takes, for every register, the newer stamp (a tie, which only
// the same write can make, by value).
func joinStates(key string, a, b *state) merged {
	out := merged{regs: make(map[string]reg, len(a.regs)), gen: maps.Clone(a.gen)}
	maps.Copy(out.regs, a.regs)
	for p, gb := range b.regs {
		ga, ok := a.regs[p]
		if !ok {
			out.regs[p] = gb
			continue
		}
		win, lose := ga, gb
		if c := gb.at.Compare(ga.at); c > 0 || c == 0 && bytes.Compare(gb.val, ga.val) > 0 {
			win, lose = gb, ga
		}
		out.regs[p] = win
		if win.at != lose.at && !bytes.Equal(win.val, lose.val) && lose.at.Compare(win.prev) > 0 {
			out.conflicts = append(out.conflicts, Conflict{Key: key, Path: p,
				Winner: Write{Version: win.at, User: win.by, Value: win.val}, Loser: Write{Version: lose.at, User: lose.by, Value: lose.val}})
		}
	}
	for n, c := range b.gen {
		if out.gen == nil {
			out.gen = map[string]int64{}
		}
		out.gen[n] = max(out.gen[n], c)
	}
	slices.SortFunc(out.conflicts, func(x, y Conflict) int { return strings.Compare(x.Path, y.Path) })
	return out
}

func sameRegs(a, b map[string]reg) bool {
	if len(a) != len(b) {
		return false
	}
	for p, x := range a {
		y, ok := b[p]
		if !ok || x.at != y.at || x.prev != y.prev || x.by != y.by || !bytes.Equal(x.val, y.val) {
			return false
		}
	}
	return true
}

// fieldPath renders a register path for people: spec.template.spec.
// containers[name=web].image.
func fieldPath(p string) string {
	var b strings.Builder
	toks := strings.Split(p, "/")
	for i, tok := range toks {
		switch {
		case tok == "#":
			b.WriteString("(order)")
		case isElement(tok):
			b.WriteString("[" + unescapeToken(tok[1:len(tok)-1]) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(unescapeToken(tok))
		}
	}
	return b.String()
}

var mergedPrefix = []byte(`{"` + metaMember + `":{"m":`)

// isMerged reports a record whose rendering is a merge of writes (its
// version is its newest input's, its content its own).
func isMerged(r *gossip.Record) bool {
	return r != nil && !r.Deleted && bytes.HasPrefix(r.Value, mergedPrefix)
}

// resourceVersion is the version time of an object's newest record, with
// the content sum of its merged records: a merged record has the version
// of its newest input, and a client holding that input's resourceVersion
// must not overwrite the merge unawares.
func resourceVersion(t uint64, recs ...*gossip.Record) string {
	rv := strconv.FormatUint(t, 10)
	var sum uint64
	merged := false
	for _, r := range recs {
		if isMerged(r) {
			sum ^= r.Sum()
			merged = true
		}
	}
	if merged {
		rv += "." + strconv.FormatUint(sum&0xffffffff, 16)
	}
	return rv
}
