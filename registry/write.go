package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// conflictQueue bounds the conflicts waiting for the agent to record them.
const conflictQueue = 256

// ReasonConflictingEdits is the reason of the Event recorded on an object
// when a field was edited on two agents apart and the merge kept one edit.
const ReasonConflictingEdits = "ConflictingEdits"

// SetUserOf tells the registry how to name the user of a write from its
// context, for the stamps of the fields it writes (and so the conflict
// Events that name both writers). Call it before serving writes.
func (o *Registry) SetUserOf(fn func(context.Context) string) { o.userOf = fn }

// Conflicts delivers the concurrent edits of one field that merges
// decided, for the agent to record as Events (at most conflictQueue wait;
// beyond, they are dropped).
func (o *Registry) Conflicts() <-chan Conflict { return o.conflicts }

func (o *Registry) user(ctx context.Context) string {
	if o.userOf == nil || ctx == nil {
		return ""
	}
	return o.userOf(ctx)
}

// createdOf returns the version that created the incarnation a live
// record belongs to: its merge data's, or for a record written before
// merge data existed, its own version (a spec) or none (a status).
func createdOf(r *gossip.Record) gossip.Version {
	m, _, err := splitRecord(r.Value)
	if err != nil || m.Created == "" && !strings.HasPrefix(string(r.Value), string(metaPrefix)) {
		if strings.HasPrefix(r.Key, specPrefix) {
			return r.Version
		}
		return gossip.Version{}
	}
	v, err := abs(m.Created, r.Version)
	if err != nil {
		return gossip.Version{}
	}
	return v
}

// legacyCreated is the creation version assumed for a record without merge
// data.
func legacyCreated(r *gossip.Record) gossip.Version {
	if strings.HasPrefix(r.Key, specPrefix) {
		return r.Version
	}
	return gossip.Version{}
}

// genOf returns the generation counters of a live spec record (for one
// written before they existed, its generation counted for its writer).
func genOf(r *gossip.Record) map[string]int64 {
	m, obj, err := splitRecord(r.Value)
	if err == nil && m.Gen != nil {
		return maps.Clone(m.Gen)
	}
	var meta struct {
		Metadata api.ObjectMeta `json:"metadata"`
	}
	if json.Unmarshal(obj, &meta) != nil || meta.Metadata.Generation == 0 {
		return nil
	}
	return map[string]int64{r.Version.Node: meta.Metadata.Generation}
}

// putSpec stages an object's spec record: spec is its JSON, bump how much
// the write raised its generation.
func (o *Registry) putSpec(t *gossip.Txn, k *api.Kind, obj api.Object, spec []byte, bump int64) error {
	m := obj.GetObjectMeta()
	key := specKey(k, m.Namespace, m.Name)
	cur := t.Get(key)
	var created gossip.Version
	var gen map[string]int64
	switch {
	case cur != nil && !cur.Deleted && !t.Staged(key):
		created, gen = createdOf(cur), genOf(cur)
	case m.Generation > 0:
		gen, bump = map[string]int64{}, m.Generation
	}
	if bump > 0 {
		if gen == nil {
			gen = map[string]int64{}
		}
		gen[o.st.Node()] += bump
	}
	if t.Staged(key) {
		cur = nil // staged in this transaction: no version to stamp against yet
	}
	value, err := stampWrite(cur, spec, created, o.user(t.Context()), gen)
	if err != nil {
		return api.NewInternal(fmt.Errorf("stamp %s: %w", key, err))
	}
	return putObject(t, k, m.Name, key, value)
}

// putStatus stages a status record (st, a statusEnvelope) of the object
// whose spec record the transaction holds.
func (o *Registry) putStatus(t *gossip.Txn, k *api.Kind, ns, name string, st []byte) error {
	key := statusKey(k, ns, name)
	var created gossip.Version
	if spec := t.Get(specKey(k, ns, name)); spec != nil && !spec.Deleted && !t.Staged(spec.Key) {
		created = createdOf(spec)
	}
	cur := t.Get(key)
	if cur != nil && (cur.Deleted || t.Staged(key)) {
		cur = nil
	}
	if cur != nil {
		var env, old statusEnvelope
		if json.Unmarshal(st, &env) == nil && json.Unmarshal(cur.Value, &old) == nil && env.UID == old.UID {
			created = createdOf(cur) // the chain of this incarnation's statuses
		} else {
			cur = nil
		}
	}
	value, err := stampWrite(cur, st, created, o.user(t.Context()), nil)
	if err != nil {
		return api.NewInternal(fmt.Errorf("stamp %s: %w", key, err))
	}
	if len(value) > gossip.MaxValueSize {
		return api.NewStatusError(http.StatusRequestEntityTooLarge, api.ReasonTooLarge,
			fmt.Sprintf("the status of %s %q encodes to %d bytes; at most %d", k.Kind, name, len(value), gossip.MaxValueSize))
	}
	t.Put(key, value)
	return nil
}

// MergeRecords is the store's Merger (gossip.Merger) for object records:
// two versions of one spec or status record merge field by field
// (merge.go); records of other keys, and two tombstones, are left to
// last-writer-wins.
//
//   - A tombstone wins over a record of an incarnation created before it,
//     however late that record was written (a delete on one side of a
//     partition wins over an edit or a status written on the other), and
//     loses to a later incarnation (the object created again).
//   - Of two incarnations, the later one wins whole.
//   - Two versions of one incarnation merge register by register, the
//     newer stamp winning each. A merged object that fails validation (two
//     edits valid alone, not together) keeps the newer write whole; the
//     registers are kept alongside, so that every order of arrival renders
//     the same bytes.
func (o *Registry) MergeRecords(key string, local, remote *gossip.Record) (*gossip.Record, bool) {
	spec := strings.HasPrefix(key, specPrefix)
	if !spec && !strings.HasPrefix(key, statusPrefix) || local.Deleted && remote.Deleted {
		return nil, false
	}
	if local.Deleted || remote.Deleted {
		tomb, val := local, remote
		if remote.Deleted {
			tomb, val = remote, local
		}
		if createdOf(val).Compare(tomb.Version) > 0 {
			return val, true
		}
		return tomb, true
	}
	if baseField(remote.Value) == baseOf(local) {
		return remote, true
	}
	if baseField(local.Value) == baseOf(remote) {
		return local, true
	}
	a, err := decodeState(local, legacyCreated(local))
	if err != nil {
		return nil, false
	}
	b, err := decodeState(remote, legacyCreated(remote))
	if err != nil {
		return nil, false
	}
	if c := a.created.Compare(b.created); c != 0 {
		if c > 0 {
			return local, true
		}
		return remote, true
	}
	j := joinStates(key, a, b)
	// Events are not reported on: a conflict's own Event must not beget
	// another. A conflict is reported whether the join is a new record or
	// one of its inputs (an edit without a generation, as of a ConfigMap's
	// data, can win every register); an agent that meets the losing write
	// again reports it again, under the same Event name.
	report := spec && !strings.HasPrefix(key, specPrefix+api.KindEvent.Resource+"/")
	if report {
		for _, c := range j.conflicts {
			if !strings.HasPrefix(c.Path, "metadata/") && !strings.HasPrefix(c.Path, "status/") && !strings.HasSuffix(c.Path, "/#") {
				o.report(c)
			}
		}
	}
	if sameRegs(j.regs, a.regs) && maps.Equal(j.gen, a.gen) {
		return local, true
	}
	if sameRegs(j.regs, b.regs) && maps.Equal(j.gen, b.gen) {
		return remote, true
	}
	newest := a
	if b.rec.Version.Compare(a.rec.Version) > 0 {
		newest = b
	}
	out, whole, err := o.renderMerge(key, j, a.created, newest)
	if err != nil {
		return nil, false
	}
	if report && whole {
		o.report(Conflict{Key: key, Winner: Write{Version: newest.rec.Version}, Loser: Write{Version: other(a, b, newest).rec.Version}})
	}
	return out, true
}

func other(a, b, one *state) *state {
	if one == a {
		return b
	}
	return a
}

func (o *Registry) report(c Conflict) {
	select {
	case o.conflicts <- c:
	default:
	}
}

// baseField reads the base ("b") of a record's merge data without
// decoding the rest: it is written first.
func baseField(value []byte) string {
	const lead = `{"` + metaMember + `":{"b":"`
	if len(value) < len(lead) || string(value[:len(lead)]) != lead {
		return ""
	}
	rest := value[len(lead):]
	for i, c := range rest {
		if c == '"' {
			return string(rest[:i])
		}
		if c == '\\' {
			return ""
		}
	}
	return ""
}

// renderMerge makes the record of a join at the version of its newest
// input: the registers rendered as the kind's object, or, when that fails
// validation or the size bound, the newest write whole (whole true).
func (o *Registry) renderMerge(key string, j merged, created gossip.Version, newest *state) (*gossip.Record, bool, error) {
	k, _, _, err := parseObjectKey(key)
	if err != nil {
		return nil, false, err
	}
	self := newest.rec.Version
	s := &state{created: created, regs: j.regs, gen: j.gen}
	m := s.meta(self)
	present := make(map[string][]byte, len(j.regs))
	for p, g := range j.regs {
		if g.val != nil {
			present[p] = g.val
		}
	}
	tree, err := render(present)
	if err != nil {
		return nil, false, err
	}
	if strings.HasPrefix(key, specPrefix) {
		if md, ok := tree["metadata"].(map[string]any); ok && len(j.gen) > 0 {
			md["generation"] = generation(j.gen)
		}
	}
	joined := canonical(tree)
	obj, err := typedRoundTrip(k, key, joined)
	if err == nil {
		if !sameJSON(obj, joined) {
			m.Joined = joined // the kind's encoding differs: keep the registers as they are
		}
		if string(newest.whole) != string(obj) {
			m.Whole, m.Merged = newest.whole, 1
		}
		r := &gossip.Record{Key: key, Version: self, Value: joinRecord(m, obj)}
		if len(r.Value) <= gossip.MaxValueSize && o.ValidateRecord(r) == nil {
			return r, false, nil
		}
	}
	m.Whole, m.Joined, m.Merged = nil, joined, 0
	r := &gossip.Record{Key: key, Version: self, Value: joinRecord(m, newest.whole)}
	if len(r.Value) > gossip.MaxValueSize || o.ValidateRecord(r) != nil {
		return nil, false, fmt.Errorf("no valid merge")
	}
	return r, true, nil
}

// typedRoundTrip decodes a rendered object (or status envelope) as its
// kind and encodes it as a write would.
func typedRoundTrip(k *api.Kind, key string, raw []byte) ([]byte, error) {
	if strings.HasPrefix(key, statusPrefix) {
		var env statusEnvelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, err
		}
		sv, _ := statusField(k.NewObject())
		if len(env.Status) > 0 {
			if err := json.Unmarshal(env.Status, sv.Addr().Interface()); err != nil {
				return nil, err
			}
		}
		st, err := json.Marshal(sv.Interface())
		if err != nil {
			return nil, err
		}
		return json.Marshal(statusEnvelope{UID: env.UID, Status: st})
	}
	obj := k.NewObject()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	return encodeSpec(obj)
}

// sameJSON reports whether two JSON objects hold the same registers.
func sameJSON(a, b []byte) bool {
	va, err1 := parseJSON(a)
	vb, err2 := parseJSON(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ma, _ := va.(map[string]any)
	mb, _ := vb.(map[string]any)
	fa, fb := flatten(ma), flatten(mb)
	return maps.EqualFunc(fa, fb, func(x, y []byte) bool { return string(x) == string(y) })
}
