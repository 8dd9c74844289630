package compose

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// A project's history is kept as Helm keeps a release's: one Secret per
// revision in the project's namespace, holding everything that revision
// applied. A Secret, not a ConfigMap, because a revision holds the
// project's converted secrets (their values included) and Secrets are the
// objects the agents encrypt at rest and keep out of logs.
//
// The revisions do not carry com.docker.compose.project: that label marks
// the objects `up` reconciles (and removes when the file no longer makes
// them); a revision is a record about the project, not one of its objects.
const (
	// LabelRevision holds the revision's number on its Secret.
	LabelRevision = "compose.shoal.io/revision"
	// LabelRevisionProject names the project a revision belongs to.
	LabelRevisionProject = "compose.shoal.io/project"
	// LabelRevisionStatus is "deployed", or "failed" once up saw a service
	// of it fail; history shows the earlier deployed ones as superseded.
	LabelRevisionStatus = "compose.shoal.io/status"
	// SecretTypeRevision is the type of a revision's Secret.
	SecretTypeRevision = "compose.shoal.io/revision.v1"
	// revisionDataKey is the Secret's one key: the revision as gzip'd JSON.
	revisionDataKey = "revision"

	// MaxRevisionBytes bounds a revision's compressed record, well within
	// what one stored object may take (2 MiB as stored: base64 adds a
	// third, encryption a few bytes).
	MaxRevisionBytes = 1 << 20
	// maxRevisionJSON bounds a revision once decompressed, so that a
	// record crafted to expand enormously is refused while it is read.
	maxRevisionJSON = 64 << 20

	RevisionDeployed   = "deployed"
	RevisionSuperseded = "superseded"
	RevisionFailed     = "failed"
)

// Revision is one recorded state of a whole project: the objects an
// `up` or `rollback` left the project with, and the compose model that
// produced them (for display).
type Revision struct {
	Number      int       `json:"revision"`
	Project     string    `json:"project"`
	Updated     time.Time `json:"updated"`
	Description string    `json:"description"`
	// Changed lists the services that differ from the revision before:
	// "web" changed, "+worker" added, "-cache" removed.
	Changed []string `json:"servicesChanged,omitempty"`
	// Objects are the project's objects as JSON documents, in the order
	// they are applied.
	Objects []json.RawMessage `json:"objects"`
	// Model is the resolved compose model (compose config) that the
	// objects came from; a rollback's is its target's.
	Model string `json:"model,omitempty"`

	// Status is read from the Secret's label, not from the record.
	Status string `json:"-"`
}

// RevisionName names the Secret of revision n of the project in
// namespace ns.
func RevisionName(ns string, n int) string { return fmt.Sprintf("%s.v%d", ns, n) }

// RevisionSelector selects the revision Secrets of a namespace.
func RevisionSelector() api.Selector {
	sel, err := api.ParseSelector(LabelRevision)
	if err != nil {
		panic(err) // a constant
	}
	return sel
}

// NewRevision records objs (encoded as they would be applied).
func NewRevision(n int, project string, at time.Time, description string, objs []api.Object, model []byte) (*Revision, error) {
	r := &Revision{Number: n, Project: project, Updated: at.UTC().Truncate(time.Second), Description: description, Model: string(model)}
	for _, o := range objs {
		k := api.KindOf(o)
		tm := o.GetTypeMeta()
		tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
		j, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("revision %d: encode %s %s: %w", n, k.Kind, o.GetObjectMeta().Name, err)
		}
		r.Objects = append(r.Objects, j)
	}
	return r, nil
}

// Secret is the revision as the Secret that stores it in namespace ns.
// A revision too large even compressed is refused with the size it has.
func (r *Revision) Secret(ns string) (*api.Secret, error) {
	j, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", r.Number, err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(j); err != nil {
		return nil, fmt.Errorf("revision %d: compress: %w", r.Number, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("revision %d: compress: %w", r.Number, err)
	}
	if z.Len() > MaxRevisionBytes {
		return nil, fmt.Errorf("revision %d of project %s takes %d bytes compressed (%d as JSON); a revision may take at most %d: "+
			"the project's configs and secrets are likely too large to keep in its history", r.Number, r.Project, z.Len(), len(j), MaxRevisionBytes)
	}
	status := r.Status
	if status == "" {
		status = RevisionDeployed
	}
	return &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: RevisionName(ns, r.Number), Namespace: ns, Labels: map[string]string{
			LabelRevision: strconv.Itoa(r.Number), LabelRevisionProject: ns, LabelRevisionStatus: status,
		}},
		Type: SecretTypeRevision,
		Data: map[string][]byte{revisionDataKey: z.Bytes()},
	}, nil
}

// RevisionFromSecret reads a revision back from its Secret, refusing one
// that is not a revision or whose record is damaged.
func RevisionFromSecret(s *api.Secret) (*Revision, error) {
	if s.Type != SecretTypeRevision {
		return nil, fmt.Errorf("secret %s is of type %q, not a compose revision (%s)", s.Name, s.Type, SecretTypeRevision)
	}
	zr, err := gzip.NewReader(bytes.NewReader(s.Data[revisionDataKey]))
	if err != nil {
		return nil, fmt.Errorf("revision secret %s: %w", s.Name, err)
	}
	j, err := io.ReadAll(io.LimitReader(zr, maxRevisionJSON+1))
	if err != nil {
		return nil, fmt.Errorf("revision secret %s: decompress: %w", s.Name, err)
	}
	if len(j) > maxRevisionJSON {
		return nil, fmt.Errorf("revision secret %s expands beyond %d bytes: refused", s.Name, maxRevisionJSON)
	}
	var r Revision
	if err := json.Unmarshal(j, &r); err != nil {
		return nil, fmt.Errorf("revision secret %s: %w", s.Name, err)
	}
	if n, err := strconv.Atoi(s.Labels[LabelRevision]); err != nil || n != r.Number || r.Number < 1 {
		return nil, fmt.Errorf("revision secret %s: its label %s=%q does not match its record (revision %d)", s.Name, LabelRevision, s.Labels[LabelRevision], r.Number)
	}
	r.Status = s.Labels[LabelRevisionStatus]
	if r.Status == "" {
		r.Status = RevisionDeployed
	}
	return &r, nil
}

// Decode returns the revision's objects, each decoded and checked as the
// server would read it.
func (r *Revision) Decode() ([]api.Object, error) {
	out := make([]api.Object, 0, len(r.Objects))
	for i, raw := range r.Objects {
		d, err := api.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("revision %d, object %d: %w", r.Number, i+1, err)
		}
		out = append(out, d.Object)
	}
	return out, nil
}

// Services names the services the revision has, sorted.
func (r *Revision) Services() ([]string, error) {
	objs, err := r.Decode()
	if err != nil {
		return nil, err
	}
	return sortedKeys(byService(objs)), nil
}

// SortRevisions orders revisions oldest first and sets the status history
// shows: the newest is deployed (or failed), the ones before superseded
// (or failed).
func SortRevisions(rs []*Revision) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Number < rs[j].Number })
	for i, r := range rs {
		if r.Status != RevisionFailed && i < len(rs)-1 {
			r.Status = RevisionSuperseded
		}
	}
}

// ObjectKey names an object within a project: kind/name.
func ObjectKey(o api.Object) string { return api.KindOf(o).Kind + "/" + o.GetObjectMeta().Name }

// MergeRevision is the state a partial change leaves the project in: the
// objects applied, and those of the earlier revision that the change
// neither replaced nor removed (keep says which of these stay).
func MergeRevision(prev, applied []api.Object, keep func(api.Object) bool) []api.Object {
	have := map[string]bool{}
	for _, o := range applied {
		have[ObjectKey(o)] = true
	}
	out := append([]api.Object(nil), applied...)
	for _, o := range prev {
		if !have[ObjectKey(o)] && keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// ServicesChanged compares two states of a project service by service:
// a service whose objects differ is named, a new one "+name", one gone
// "-name". The project's own objects (namespace, configs, secrets) count
// through the services that use them, whose templates change with them.
func ServicesChanged(prev, next []api.Object) []string {
	a, b := byService(prev), byService(next)
	var out []string
	for _, s := range sortedKeys(b) {
		old, ok := a[s]
		switch {
		case !ok:
			out = append(out, "+"+s)
		case !bytes.Equal(old, b[s]):
			out = append(out, s)
		}
	}
	for _, s := range sortedKeys(a) {
		if _, ok := b[s]; !ok {
			out = append(out, "-"+s)
		}
	}
	return out
}

// SameObjects reports whether two states hold the same objects, in any
// order.
func SameObjects(a, b []api.Object) bool {
	return bytes.Equal(canonical(a), canonical(b))
}

// byService encodes each service's objects canonically, keyed by the
// service's label (its object name).
func byService(objs []api.Object) map[string][]byte {
	groups := map[string][]api.Object{}
	for _, o := range objs {
		if s := ServiceOf(o); s != "" {
			groups[s] = append(groups[s], o)
		}
	}
	out := map[string][]byte{}
	for s, g := range groups {
		out[s] = canonical(g)
	}
	return out
}

// canonical encodes objects sorted by kind and name, without the fields
// the server sets.
func canonical(objs []api.Object) []byte {
	type entry struct {
		key string
		j   []byte
	}
	es := make([]entry, 0, len(objs))
	for _, o := range objs {
		j, _ := json.Marshal(o)
		var m map[string]any
		if json.Unmarshal(j, &m) == nil {
			if md, ok := m["metadata"].(map[string]any); ok {
				for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation"} {
					delete(md, f)
				}
			}
			delete(m, "status")
			j, _ = json.Marshal(m)
		}
		es = append(es, entry{ObjectKey(o), j})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].key < es[j].key })
	var b bytes.Buffer
	for _, e := range es {
		b.WriteString(e.key)
		b.Write(e.j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ErrNoRevision is returned when a project has no revision to act on.
var ErrNoRevision = errors.New("compose: no such revision")

// FindRevision returns revision n of rs, naming the revisions kept when
// there is none of that number.
func FindRevision(rs []*Revision, n int) (*Revision, error) {
	for _, r := range rs {
		if r.Number == n {
			return r, nil
		}
	}
	kept := make([]string, len(rs))
	for i, r := range rs {
		kept[i] = strconv.Itoa(r.Number)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w %d: the project has no recorded revision", ErrNoRevision, n)
	}
	return nil, fmt.Errorf("%w %d: the project keeps revisions %s", ErrNoRevision, n, strings.Join(kept, ", "))
}
