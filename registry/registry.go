package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Registry is the typed layer over the record store: Kubernetes-shaped objects
// with their spec (metadata and desired state) and status kept as two records,
// so that a user's edit and a controller's status write never overwrite each
// other. It defaults and validates every write, so controllers and the API
// obey the same rules.
type Registry struct {
	st    *gossip.Store
	now   func() time.Time
	admit []Admission
	// userOf names the user a write's context carries ("" if none), for
	// the stamps of the fields it writes (SetUserOf).
	userOf func(context.Context) string
	// conflicts receives the concurrent edits of one field that merges
	// decided (Conflicts); full, it drops them.
	conflicts chan Conflict
	// viewCache keeps the objects TxnView.List decoded, by record key, so
	// that admitting one Service among thousands does not decode them all
	// again: entries are reused while their record's version is unchanged.
	viewCache sync.Map // key -> viewEntry
	// decoded memoises the objects admission views decoded from staged
	// records, so a bulk write of n objects decodes each once, not n
	// times. It belongs to the transaction running (one at a time: the
	// store's write lock), and is reset by update.
	decoded map[*gossip.Record]any
	// watchStats counts the watches of each kind (resource name ->
	// *kindWatchStats).
	watchStats sync.Map
	// decodes shares the objects decoded for watches among watchers.
	decodes decodeMemo
}

// update runs fn in a store transaction with a fresh admission memo; a
// write the store could not make durable is answered as StoreError says.
//
// In a dry run (api.IsDryRun) fn runs, with every check it makes, and the
// transaction is then dropped: nothing is written and no records are
// returned.
func (o *Registry) update(ctx context.Context, fn func(*gossip.Txn) error) ([]*gossip.Record, error) {
	recs, err := o.st.Update(ctx, func(t *gossip.Txn) error {
		o.decoded = nil
		defer func() { o.decoded = nil }()
		if err := fn(t); err != nil {
			return err
		}
		if api.IsDryRun(ctx) {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return nil, nil
	}
	return recs, StoreError(err)
}

// errDryRun drops a dry run's transaction.
var errDryRun = errors.New("registry: dry run")

// StoreError turns the store's failures into API errors, each saying that
// nothing was written: a full disk is 507 Insufficient Storage, another
// failure to persist a 500, a clock too far ahead of its peers or a
// store that is closing a 503. Other errors
// (those of the write itself) are returned as they are.
func StoreError(err error) error {
	var pe *gossip.PersistError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Full():
		return api.NewInsufficientStorage(fmt.Sprintf("the disk holding this agent's state (%s) is full: nothing was written (%v). "+
			"Free space on that disk, or grow it: writes resume by themselves, without a restart. "+
			"Reads, running pods and the other agents are not affected", pe.Path, pe.Err))
	case errors.As(err, &pe):
		return api.NewStatusError(http.StatusInternalServerError, api.ReasonInternalError, fmt.Sprintf(
			"this agent could not store the write in %s (%v): nothing was written; retry, or write through another agent", pe.Path, pe.Err))
	case errors.Is(err, gossip.ErrClockAhead):
		se := api.NewUnavailable(err.Error())
		se.ErrStatus.Details = &api.StatusDetails{RetryAfterSeconds: 5}
		return se
	case errors.Is(err, gossip.ErrClosed):
		return api.NewUnavailable("this agent is stopping: nothing was written; retry, or write through another agent")
	}
	return err
}

type viewEntry struct {
	version gossip.Version
	obj     api.Object
}

// Admission completes or refuses a write inside its transaction, after
// defaulting and validation: the agent allocates Services' cluster IPs and
// node ports this way. old is nil on create. An error refuses the write.
type Admission func(t *TxnView, old, obj api.Object) error

// AddAdmission registers an admission step; call it before serving writes.
func (o *Registry) AddAdmission(a Admission) { o.admit = append(o.admit, a) }

// TxnView lets an admission step read the state its write will join.
type TxnView struct {
	o *Registry
	t *gossip.Txn
}

// List returns the live objects of a kind in every namespace, as the
// transaction sees them (writes staged earlier in it included). The objects
// are shared between calls: read them, never modify them.
func (v *TxnView) List(k *api.Kind) []api.Object {
	prefix := specPrefix + k.Resource + "/"
	seen := map[string]bool{}
	var out []api.Object
	add := func(r *gossip.Record) {
		if seen[r.Key] || r.Deleted {
			return
		}
		seen[r.Key] = true
		if obj, ok := v.o.decoded[r].(api.Object); ok {
			out = append(out, obj)
			return
		}
		if obj, err := decode(k, r, nil); err == nil {
			if v.o.decoded == nil {
				v.o.decoded = map[*gossip.Record]any{}
			}
			v.o.decoded[r] = obj
			out = append(out, obj)
		}
	}
	addCommitted := func(r *gossip.Record) {
		if r.Deleted {
			v.o.viewCache.Delete(r.Key)
			return
		}
		if e, ok := v.o.viewCache.Load(r.Key); ok && e.(viewEntry).version == r.Version {
			seen[r.Key] = true
			out = append(out, e.(viewEntry).obj)
			return
		}
		if obj, err := decode(k, r, nil); err == nil {
			seen[r.Key] = true
			v.o.viewCache.Store(r.Key, viewEntry{version: r.Version, obj: obj})
			out = append(out, obj)
		}
	}
	v.t.Range(prefix, func(r *gossip.Record) bool {
		if len(r.Key) == len(prefix) {
			return true
		}
		if v.t.Staged(r.Key) {
			add(r)
		} else if !seen[r.Key] {
			addCommitted(r)
		}
		return true
	})
	return out
}

// Get returns one live object as the transaction sees it, or nil. The
// object is decoded afresh: the caller may keep it.
func (v *TxnView) Get(k *api.Kind, ns, name string) api.Object {
	ns = nsFor(k, ns)
	r := v.t.Get(specKey(k, ns, name))
	if r == nil || r.Deleted {
		return nil
	}
	obj, err := decode(k, r, v.t.Get(statusKey(k, ns, name)))
	if err != nil {
		return nil
	}
	return obj
}

// Warn accepts the write with a warning for the user who made it (an HTTP
// Warning header); writes without a user (controllers) drop it.
func (v *TxnView) Warn(msg string) { api.AddWarning(v.t.Context(), msg) }

func (o *Registry) admitWrite(t *gossip.Txn, k *api.Kind, old, obj api.Object) error {
	if err := checkDaemonSetClaims(&TxnView{o: o, t: t}, old, obj); err != nil {
		return asInvalid(k, obj.GetObjectMeta().Name, err)
	}
	for _, a := range o.admit {
		if err := a(&TxnView{o: o, t: t}, old, obj); err != nil {
			return asInvalid(k, obj.GetObjectMeta().Name, err)
		}
	}
	return nil
}

// asInvalid keeps Status errors and turns field errors into a 422.
func asInvalid(k *api.Kind, name string, err error) error {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se
	}
	return invalid(k, name, err)
}

// New wraps a store and makes it merge concurrent versions of an object
// field by field (merge.go).
func New(st *gossip.Store) *Registry {
	o := &Registry{st: st, now: time.Now, conflicts: make(chan Conflict, conflictQueue)}
	if st != nil { // nil: only to validate records
		st.SetMerger(o.MergeRecords)
	}
	return o
}

// SetClock sets the clock that stamps creation and deletion times (a test
// server seeding objects of given ages); call it before serving writes.
func (o *Registry) SetClock(now func() time.Time) { o.now = now }

// Store returns the record store underneath.
func (o *Registry) Store() *gossip.Store { return o.st }

// Key prefixes: "o/" holds the spec record of each object, "s/" its status.
const (
	specPrefix   = "o/"
	statusPrefix = "s/"
)

func specKey(k *api.Kind, ns, name string) string {
	return specPrefix + k.Resource + "/" + ns + "/" + name
}

func statusKey(k *api.Kind, ns, name string) string {
	return statusPrefix + k.Resource + "/" + ns + "/" + name
}

// statusEnvelope is the value of a status record: the uid ties it to one
// incarnation of the object, so a stale status never attaches to a
// re-created object of the same name.
type statusEnvelope struct {
	UID    string          `json:"uid"`
	Status json.RawMessage `json:"status"`
}

func statusField(obj api.Object) (reflect.Value, bool) {
	v := reflect.ValueOf(obj).Elem().FieldByName("Status")
	return v, v.IsValid()
}

// encodeSpec marshals the object without its status.
func encodeSpec(obj api.Object) ([]byte, error) {
	sv, ok := statusField(obj)
	if !ok {
		return json.Marshal(obj)
	}
	saved := reflect.New(sv.Type()).Elem()
	saved.Set(sv)
	sv.Set(reflect.Zero(sv.Type()))
	defer sv.Set(saved)
	return json.Marshal(obj)
}

func encodeStatus(obj api.Object) ([]byte, error) {
	sv, ok := statusField(obj)
	if !ok {
		return nil, nil
	}
	st, err := json.Marshal(sv.Interface())
	if err != nil {
		return nil, err
	}
	return json.Marshal(statusEnvelope{UID: obj.GetObjectMeta().UID, Status: st})
}

// decode builds the object from its spec record and, if it belongs to the
// same incarnation, its status record.
func decode(k *api.Kind, spec, status *gossip.Record) (api.Object, error) {
	obj := k.NewObject()
	if err := json.Unmarshal(spec.Value, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", spec.Key, err)
	}
	m := obj.GetObjectMeta()
	ver := spec.Version.Time
	var applied *gossip.Record
	if status != nil && !status.Deleted {
		var env statusEnvelope
		if err := json.Unmarshal(status.Value, &env); err == nil && env.UID == m.UID {
			if sv, ok := statusField(obj); ok && len(env.Status) > 0 {
				if err := json.Unmarshal(env.Status, sv.Addr().Interface()); err != nil {
					return nil, fmt.Errorf("decode %s: %w", status.Key, err)
				}
			}
			ver = max(ver, status.Version.Time)
			applied = status
		}
	}
	m.ResourceVersion = resourceVersion(ver, spec, applied)
	setTypeMeta(k, obj)
	if pv, ok := obj.(*api.PersistentVolume); ok && pv.Status.Phase == "" {
		pv.Status.Phase = api.PersistentVolumePhase(pv) // stored before volumes had a status record
	}
	return obj, nil
}

// setTypeMeta makes kind and apiVersion explicit, so stored records are
// self-describing and compare equal however the object was built.
func setTypeMeta(k *api.Kind, obj api.Object) {
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
}

func (o *Registry) load(k *api.Kind, ns, name string) (api.Object, error) {
	spec := o.st.Get(specKey(k, ns, name))
	if spec == nil || spec.Deleted {
		return nil, api.NewNotFound(k, name)
	}
	return decode(k, spec, o.st.Get(statusKey(k, ns, name)))
}

// Get returns one object.
func (o *Registry) Get(_ context.Context, k *api.Kind, ns, name string) (api.Object, error) {
	return o.load(k, nsFor(k, ns), name)
}

func nsFor(k *api.Kind, ns string) string {
	if !k.Namespaced {
		return ""
	}
	return ns
}

// List returns the objects of a kind in namespace ns ("" for all) that match
// the selector, sorted by namespace and name, and the resourceVersion a watch
// can resume from.
func (o *Registry) List(_ context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	prefix := specPrefix + k.Resource + "/"
	if k.Namespaced && ns != "" {
		prefix += ns + "/"
	}
	stamp := o.st.Stamp()
	var specs []*gossip.Record
	o.st.Scan(prefix, func(r *gossip.Record) { specs = append(specs, r) })
	sort.Slice(specs, func(i, j int) bool { return specs[i].Key < specs[j].Key })
	out := make([]api.Object, 0, len(specs))
	for _, r := range specs {
		obj, err := decode(k, r, o.st.Get(statusPrefix+r.Key[len(specPrefix):]))
		if err != nil {
			return nil, "", err
		}
		if sel.Matches(obj.GetObjectMeta().Labels) {
			out = append(out, obj)
		}
	}
	return out, strconv.FormatUint(stamp, 10), nil
}

// ListPage is List from the object after the key after ("namespace/name",
// "" for the first) on, at most limit objects, and whether more follow. It
// decodes only the objects of the page (and the ones the selector skips),
// so that a paged list (kubectl asks by 500) costs what the page does.
func (o *Registry) ListPage(_ context.Context, k *api.Kind, ns string, sel api.Selector, after string, limit int) ([]api.Object, string, bool, error) {
	base := specPrefix + k.Resource + "/"
	prefix := base
	if k.Namespaced && ns != "" {
		prefix += ns + "/"
	}
	stamp := o.st.Stamp()
	var specs []*gossip.Record
	o.st.Scan(prefix, func(r *gossip.Record) { specs = append(specs, r) })
	sort.Slice(specs, func(i, j int) bool { return specs[i].Key < specs[j].Key })
	if after != "" {
		from := base + after
		specs = specs[sort.Search(len(specs), func(i int) bool { return specs[i].Key > from }):]
	}
	out := make([]api.Object, 0, min(limit, len(specs)))
	for _, r := range specs {
		obj, err := decode(k, r, o.st.Get(statusPrefix+r.Key[len(specPrefix):]))
		if err != nil {
			return nil, "", false, err
		}
		if !sel.Matches(obj.GetObjectMeta().Labels) {
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatUint(stamp, 10), true, nil
		}
		out = append(out, obj)
	}
	return out, strconv.FormatUint(stamp, 10), false, nil
}

// prepare defaults and validates a new object in place and gives it identity.
func (o *Registry) prepareCreate(t *gossip.Txn, obj api.Object) (*api.Kind, error) {
	k := api.KindOf(obj)
	setTypeMeta(k, obj)
	m := obj.GetObjectMeta()
	m.Namespace = nsFor(k, m.Namespace)
	if m.Name == "" && m.GenerateName != "" {
		m.Name = generateName(m.GenerateName)
	}
	api.Default(obj)
	if err := api.Validate(obj); err != nil {
		return k, invalid(k, m.Name, err)
	}
	if k.Namespaced {
		if err := checkNamespace(t, m.Namespace); err != nil {
			return k, err
		}
	}
	if cur := t.Get(specKey(k, m.Namespace, m.Name)); cur != nil && !cur.Deleted {
		return k, api.NewAlreadyExists(k, m.Name)
	}
	if err := o.admitWrite(t, k, nil, obj); err != nil {
		return k, err
	}
	m.UID = newUID()
	api.DefaultIdentity(obj)
	m.CreationTimestamp = api.NewTime(o.now())
	m.ResourceVersion = ""
	m.DeletionTimestamp = nil
	m.DeletionGracePeriodSeconds = nil
	if _, ok := reflect.ValueOf(obj).Elem().Type().FieldByName("Spec"); ok {
		m.Generation = 1
	}
	return k, nil
}

func checkNamespace(t *gossip.Txn, ns string) error {
	r := t.Get(specKey(api.KindNamespace, "", ns))
	if r == nil || r.Deleted {
		return api.NewNotFound(api.KindNamespace, ns)
	}
	var n api.Namespace
	if err := json.Unmarshal(r.Value, &n); err == nil && n.DeletionTimestamp != nil {
		return api.NewStatusError(403, api.ReasonForbidden,
			fmt.Sprintf("namespace %q is being deleted; nothing new can be created in it", ns))
	}
	return nil
}

func invalid(k *api.Kind, name string, err error) error {
	var fe api.FieldErrors
	if errors.As(err, &fe) {
		return api.NewInvalid(k, name, fe)
	}
	return api.NewBadRequest(err.Error())
}

// putObject stages a record of an object, refusing one over the size
// every agent accepts from elsewhere (gossip.MaxValueSize): what this agent
// stores, every agent must be able to replicate.
func putObject(t *gossip.Txn, k *api.Kind, name, key string, value []byte) error {
	if len(value) > gossip.MaxValueSize {
		return api.NewStatusError(http.StatusRequestEntityTooLarge, api.ReasonTooLarge,
			fmt.Sprintf("%s %q encodes to %d bytes as stored (JSON, escapes and base64 included); an object may take at most %d: "+
				"move large data out of it (split a ConfigMap or Secret, shorten annotations)", k.Kind, name, len(value), gossip.MaxValueSize))
	}
	t.Put(key, value)
	return nil
}

// writeCreate stages the records of a prepared new object.
func (o *Registry) writeCreate(t *gossip.Txn, k *api.Kind, obj api.Object) error {
	m := obj.GetObjectMeta()
	switch obj := obj.(type) {
	case *api.PersistentVolumeClaim:
		if err := o.bindNewClaim(t, obj); err != nil {
			return err
		}
		if obj.Spec.VolumeName == "" && obj.Annotations[api.AnnotationWaitsForVolume] == "" {
			if err := o.adoptRunningPodsNode(t, obj); err != nil {
				return err
			}
		}
	case *api.PersistentVolume:
		if err := o.bindWaitingClaims(t, obj); err != nil {
			return err
		}
	}
	spec, err := encodeSpec(obj)
	if err != nil {
		return api.NewInternal(err)
	}
	if err := o.putSpec(t, k, obj, spec, 0); err != nil {
		return err
	}
	// A status given at creation is kept only for kinds whose creator is
	// also the status writer (a node registering itself, a namespace's phase).
	if k.HasStatus && (k == api.KindNode || k == api.KindNamespace) {
		st, err := encodeStatus(obj)
		if err != nil {
			return api.NewInternal(err)
		}
		if err := o.putStatus(t, k, m.Namespace, m.Name, st); err != nil {
			return err
		}
	} else if sv, ok := statusField(obj); ok {
		sv.Set(reflect.Zero(sv.Type()))
	}
	switch obj := obj.(type) {
	case *api.PersistentVolumeClaim:
		// Pending, or Bound when created with its node named or found.
		return o.stageClaimStatus(t, obj, "")
	case *api.Pod:
		if obj.Spec.NodeName != "" { // bound by its creator, as DaemonSet pods are
			return o.bindClaims(t, obj, obj.Spec.NodeName)
		}
	case *api.PersistentVolume:
		return o.stageVolumeStatus(t, obj)
	case *api.Node:
		return o.bindVolumesOfNode(t, obj)
	}
	return nil
}

// Create stores a new object and returns it as stored.
func (o *Registry) Create(ctx context.Context, obj api.Object) (api.Object, error) {
	var k *api.Kind
	recs, err := o.update(ctx, func(t *gossip.Txn) error {
		var err error
		if k, err = o.prepareCreate(t, obj); err != nil {
			return err
		}
		return o.writeCreate(t, k, obj)
	})
	if err != nil {
		return nil, err
	}
	if api.IsDryRun(ctx) {
		return obj, nil // stored nowhere: no resourceVersion
	}
	obj.GetObjectMeta().ResourceVersion = strconv.FormatUint(recs[len(recs)-1].Version.Time, 10)
	return obj, nil
}

// stageUpdate checks an update against the current object and stages the
// new spec record. It reports whether anything changed.
//
// A whole-object write (wholeObject: a PUT, shoal apply) with no
// metadata.finalizers at all keeps the stored ones while the object is
// being deleted: its writer did not mean to finish the deletion. The
// garbage collector's removal of foregroundDeletion (finishForeground) is
// refused while a dependent that blocks the owner is stored.
func (o *Registry) stageUpdate(t *gossip.Txn, obj api.Object, wholeObject, finishForeground bool) (*api.Kind, bool, error) {
	k := api.KindOf(obj)
	setTypeMeta(k, obj)
	m := obj.GetObjectMeta()
	m.Namespace = nsFor(k, m.Namespace)
	sk := specKey(k, m.Namespace, m.Name)
	cur := t.Get(sk)
	if cur == nil || cur.Deleted {
		return k, false, api.NewNotFound(k, m.Name)
	}
	old, err := decode(k, cur, t.Get(statusKey(k, m.Namespace, m.Name)))
	if err != nil {
		return k, false, api.NewInternal(err)
	}
	om := old.GetObjectMeta()
	if m.ResourceVersion != "" && m.ResourceVersion != om.ResourceVersion {
		return k, false, api.NewConflict(k, m.Name, "the object has been modified; please apply your changes to the latest version and try again")
	}
	if m.UID != "" && m.UID != om.UID {
		return k, false, api.NewConflict(k, m.Name, fmt.Sprintf("Precondition failed: UID in object meta: %s, UID in object: %s", m.UID, om.UID))
	}
	m.UID, m.CreationTimestamp, m.GenerateName = om.UID, om.CreationTimestamp, om.GenerateName
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = om.DeletionTimestamp, om.DeletionGracePeriodSeconds
	if om.DeletionTimestamp != nil {
		if wholeObject && m.Finalizers == nil {
			m.Finalizers = slices.Clone(om.Finalizers)
		}
		if added := addedFinalizers(om.Finalizers, m.Finalizers); len(added) > 0 {
			return k, false, invalid(k, m.Name, api.FieldErrors{{Field: "metadata.finalizers", Type: api.ErrTypeForbidden,
				Detail: fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", added)}})
		}
	}
	m.Generation = om.Generation
	// A writer that does not know managedFields (a controller, shoal
	// apply) keeps them; the API server sends an empty list to clear them.
	if m.ManagedFields == nil {
		m.ManagedFields = om.ManagedFields
	} else if len(m.ManagedFields) == 0 {
		m.ManagedFields = nil
	}
	keepClaimBinding(old, obj)
	api.Default(obj)
	api.DefaultIdentity(obj)
	if err := api.Validate(obj); err != nil {
		return k, false, invalid(k, m.Name, err)
	}
	if err := api.ValidateUpdate(old, obj); err != nil {
		return k, false, invalid(k, m.Name, err)
	}
	if err := o.admitWrite(t, k, old, obj); err != nil {
		return k, false, err
	}
	if specChanged(old, obj) {
		m.Generation++
	}
	// Keep the stored status in the returned object.
	if sv, ok := statusField(obj); ok {
		osv, _ := statusField(old)
		sv.Set(osv)
	}
	pv, isVolume := obj.(*api.PersistentVolume)
	if isVolume {
		// A volume made Available (its claimRef removed) takes a
		// waiting claim.
		pv.Status.Phase = api.PersistentVolumePhase(pv)
		if pv.Status.Phase == api.VolumeAvailable {
			if err := o.bindWaitingClaims(t, pv); err != nil {
				return k, false, err
			}
		}
	}
	m.ResourceVersion = ""
	spec, err := encodeSpec(obj)
	if err != nil {
		return k, false, api.NewInternal(err)
	}
	oldRV := om.ResourceVersion
	om.ResourceVersion = ""
	oldSpec, _ := encodeSpec(old)
	if bytes.Equal(spec, oldSpec) {
		m.ResourceVersion = oldRV
		return k, false, nil
	}
	if finishForeground && api.HasFinalizer(om, api.FinalizerForeground) && !api.HasFinalizer(m, api.FinalizerForeground) {
		if dep, err := o.blockingDependentIn(t, k, old); err != nil || dep != "" {
			if err != nil {
				return k, false, err
			}
			return k, false, api.NewConflict(k, m.Name, fmt.Sprintf("the dependent %s still blocks its deletion (blockOwnerDeletion)", dep))
		}
	}
	if finalized(m) {
		// The last finalizer of an object being deleted is gone: so is it.
		return k, true, o.removeIn(t, k, obj)
	}
	if err := o.putSpec(t, k, obj, spec, m.Generation-om.Generation); err != nil {
		return k, false, err
	}
	if c, ok := obj.(*api.PersistentVolumeClaim); ok {
		if err := o.stageClaimStatus(t, c, old.(*api.PersistentVolumeClaim).Status.Phase); err != nil {
			return k, false, err
		}
	}
	if isVolume {
		if err := o.stageVolumeStatus(t, pv); err != nil {
			return k, false, err
		}
	}
	if n, ok := obj.(*api.Node); ok && !maps.Equal(n.Labels, old.GetObjectMeta().Labels) {
		// Relabelled: a volume's node affinity may name it now.
		if err := o.bindVolumesOfNode(t, n); err != nil {
			return k, false, err
		}
	}
	return k, true, nil
}

func specChanged(old, cur api.Object) bool {
	a := reflect.ValueOf(old).Elem().FieldByName("Spec")
	b := reflect.ValueOf(cur).Elem().FieldByName("Spec")
	if !a.IsValid() {
		return false
	}
	ja, _ := json.Marshal(a.Interface())
	jb, _ := json.Marshal(b.Interface())
	return !bytes.Equal(ja, jb)
}

// Update replaces an object's metadata and spec (not its status). A non-empty
// resourceVersion must match the stored one (optimistic concurrency).
func (o *Registry) Update(ctx context.Context, obj api.Object) (api.Object, error) {
	recs, err := o.update(ctx, func(t *gossip.Txn) error {
		_, _, err := o.stageUpdate(t, obj, api.IsWholeObject(ctx), api.IsFinishForeground(ctx))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		cur, err := o.Get(ctx, api.KindOf(obj), obj.GetObjectMeta().Namespace, obj.GetObjectMeta().Name)
		if api.IsNotFound(err) && finalized(obj.GetObjectMeta()) {
			return obj, nil // the update removed its last finalizer, and it
		}
		return cur, err
	}
	if api.IsDryRun(ctx) {
		// The object as it would be, at the version it still has.
		if cur, err := o.Get(ctx, api.KindOf(obj), obj.GetObjectMeta().Namespace, obj.GetObjectMeta().Name); err == nil {
			obj.GetObjectMeta().ResourceVersion = cur.GetObjectMeta().ResourceVersion
		}
	}
	return obj, nil
}

// UpdateStatus replaces an object's status. Each status has a single writer
// (the pod's node, the workload's controller), so no resourceVersion check is
// made; the uid, if given, must match.
func (o *Registry) UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error) {
	k := api.KindOf(obj)
	if !k.HasStatus {
		return nil, api.NewStatusError(405, api.ReasonMethodNotAllow, k.Resource+" have no status subresource")
	}
	m := obj.GetObjectMeta()
	ns := nsFor(k, m.Namespace)
	_, err := o.update(ctx, func(t *gossip.Txn) error {
		cur := t.Get(specKey(k, ns, m.Name))
		if cur == nil || cur.Deleted {
			return api.NewNotFound(k, m.Name)
		}
		var meta struct {
			Metadata api.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(cur.Value, &meta); err != nil {
			return api.NewInternal(err)
		}
		if m.UID != "" && m.UID != meta.Metadata.UID {
			return api.NewConflict(k, m.Name, "the object was deleted and re-created (uid differs)")
		}
		m.UID = meta.Metadata.UID
		st, err := encodeStatus(obj)
		if err != nil {
			return api.NewInternal(err)
		}
		if api.HasManagedFields(ctx) {
			if err := o.stageStatusManagers(t, k, cur, m); err != nil {
				return err
			}
		}
		if old := t.Get(statusKey(k, ns, m.Name)); old != nil && !old.Deleted && bytes.Equal(plainValue(old.Value), st) {
			return nil
		}
		return o.putStatus(t, k, ns, m.Name, st)
	})
	if err != nil {
		return nil, err
	}
	cur, err := o.load(k, ns, m.Name)
	if err != nil || !api.IsDryRun(ctx) {
		return cur, err
	}
	// The stored object with the status it would have.
	if sv, ok := statusField(cur); ok {
		nsv, _ := statusField(obj)
		sv.Set(nsv)
	}
	return cur, nil
}

// stageStatusManagers keeps the managedFields a write of the status
// subresource sends (the API server's record of who set which status
// field): they live in the object's metadata, so in its spec record, which
// the same transaction then rewrites. Only API writes carry them
// (api.WithManagedFields); a node's or a controller's status write leaves
// the spec record alone.
func (o *Registry) stageStatusManagers(t *gossip.Txn, k *api.Kind, spec *gossip.Record, m *api.ObjectMeta) error {
	if m.ManagedFields == nil {
		return nil
	}
	stored, err := decode(k, spec, nil)
	if err != nil {
		return api.NewInternal(err)
	}
	sm := stored.GetObjectMeta()
	want := m.ManagedFields
	if len(want) == 0 {
		want = nil
	}
	a, _ := json.Marshal(sm.ManagedFields)
	b, _ := json.Marshal(want)
	if bytes.Equal(a, b) {
		return nil
	}
	sm.ManagedFields = want
	if err := api.Validate(stored); err != nil {
		return invalid(k, sm.Name, err)
	}
	sm.ResourceVersion = ""
	value, err := encodeSpec(stored)
	if err != nil {
		return api.NewInternal(err)
	}
	return o.putSpec(t, k, stored, value, 0)
}

// Delete removes an object. A pod bound to a node is deleted gracefully: it
// is marked with a deletionTimestamp, its node stops its containers within
// the grace period and then removes it. A grace period of 0 removes it at once.
//
// An object with finalizers (metadata.finalizers) is only marked: it gets a
// deletionTimestamp and stays, readable, until an update removes its last
// finalizer (stageUpdate), which removes it.
//
// The propagation policy decides what becomes of the object's dependents
// (objects whose ownerReferences name its uid): with Background (and by
// default) the garbage collector deletes them after it; with Orphan they
// lose their reference to it in the same transaction, so they stay; with
// Foreground they are deleted, depth first, in the same transaction (pods
// among them gracefully, as a delete of each would), and the object, if a
// dependent that blocks it (blockOwnerDeletion) is still there after that,
// gets the finalizer foregroundDeletion, which the garbage collector removes
// once no such dependent is left.
func (o *Registry) Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error) {
	ns = nsFor(k, ns)
	var result api.Object
	_, err := o.update(ctx, func(t *gossip.Txn) error {
		obj, err := o.deleteIn(t, k, ns, name, opts, 0)
		result = obj
		return err
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// maxForegroundDepth bounds the owner chains a foreground delete follows
// (Deployment, ReplicaSet, Pod is three).
const maxForegroundDepth = 8

// deleteIn deletes one object inside a transaction.
func (o *Registry) deleteIn(t *gossip.Txn, k *api.Kind, ns, name string, opts api.DeleteOptions, depth int) (api.Object, error) {
	cur := t.Get(specKey(k, ns, name))
	if cur == nil || cur.Deleted {
		return nil, api.NewNotFound(k, name)
	}
	obj, err := decode(k, cur, t.Get(statusKey(k, ns, name)))
	if err != nil {
		return nil, api.NewInternal(err)
	}
	m := obj.GetObjectMeta()
	if opts.UID != "" && opts.UID != m.UID {
		return nil, api.NewConflict(k, name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object: %s", opts.UID, m.UID))
	}
	if opts.ResourceVersion != "" && opts.ResourceVersion != m.ResourceVersion {
		return nil, api.NewConflict(k, name, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object: %s", opts.ResourceVersion, m.ResourceVersion))
	}
	addFinalizer := false
	switch opts.PropagationPolicy {
	case api.DeletePropagationOrphan:
		if err := o.releaseDependents(t, k, obj, nil); err != nil {
			return nil, err
		}
	case api.DeletePropagationForeground:
		if m.DeletionTimestamp != nil && api.HasFinalizer(m, api.FinalizerForeground) {
			return obj, nil // its foreground deletion is under way
		}
		// As in Kubernetes, the object deleted in the foreground is always
		// marked first, even with nothing blocking it: the garbage
		// collector removes the finalizer, and with it the object, a
		// moment later. Its dependents are marked only while something
		// still blocks them.
		addFinalizer = depth == 0
		if depth >= maxForegroundDepth {
			return nil, api.NewBadRequest(fmt.Sprintf("%s %q: owner references go deeper than %d levels; delete with propagationPolicy Background", k.Kind, name, maxForegroundDepth))
		}
		dependentOpts := api.DeleteOptions{GracePeriodSeconds: opts.GracePeriodSeconds, PropagationPolicy: api.DeletePropagationForeground}
		err := o.releaseDependents(t, k, obj, func(dk *api.Kind, dep api.Object) error {
			dm := dep.GetObjectMeta()
			_, err := o.deleteIn(t, dk, dm.Namespace, dm.Name, dependentOpts, depth+1)
			if api.IsNotFound(err) {
				return nil // reached twice through two owners
			}
			if err != nil {
				return err
			}
			// A dependent still there (a terminating pod, one with
			// finalizers) that blocks its owner keeps the owner.
			if r := t.Get(specKey(dk, dm.Namespace, dm.Name)); r != nil && !r.Deleted && api.BlocksOwner(dm, m.UID) {
				addFinalizer = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if addFinalizer && !api.HasFinalizer(m, api.FinalizerForeground) {
		m.Finalizers = append(m.Finalizers, api.FinalizerForeground)
	}
	if pod, ok := obj.(*api.Pod); ok && needsGracefulDelete(pod, opts) {
		grace := *pod.Spec.TerminationGracePeriodSeconds
		if opts.GracePeriodSeconds != nil {
			grace = *opts.GracePeriodSeconds
		}
		if m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds <= grace && !addFinalizer {
			return obj, nil // already terminating, no shorter
		}
		if m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds > grace {
			ts := api.NewTime(o.now().Add(time.Duration(grace) * time.Second))
			m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &ts, &grace
		}
		return obj, o.rewriteSpec(t, k, obj)
	}
	if len(m.Finalizers) > 0 {
		return obj, o.markDeleting(t, k, obj, addFinalizer)
	}
	return obj, o.removeIn(t, k, obj)
}

// markDeleting marks an object with finalizers as being deleted: it gets a
// deletionTimestamp (kept if it has one) and a grace period of 0, and stays
// until its last finalizer is removed.
func (o *Registry) markDeleting(t *gossip.Txn, k *api.Kind, obj api.Object, changed bool) error {
	m := obj.GetObjectMeta()
	if m.DeletionTimestamp == nil {
		ts := api.NewTime(o.now())
		m.DeletionTimestamp = &ts
		changed = true
	}
	if m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 0 {
		zero := int64(0)
		m.DeletionGracePeriodSeconds = &zero
		changed = true
	}
	if !changed {
		return nil // already being deleted: nothing to write
	}
	return o.rewriteSpec(t, k, obj)
}

// rewriteSpec stages an object's spec record as the registry changed it.
func (o *Registry) rewriteSpec(t *gossip.Txn, k *api.Kind, obj api.Object) error {
	obj.GetObjectMeta().ResourceVersion = ""
	spec, err := encodeSpec(obj)
	if err != nil {
		return api.NewInternal(err)
	}
	return o.putSpec(t, k, obj, spec, 0)
}

// removeIn removes an object's records (a namespace with everything in it).
func (o *Registry) removeIn(t *gossip.Txn, k *api.Kind, obj api.Object) error {
	if k == api.KindNamespace {
		return o.stageNamespaceDelete(t, obj.(*api.Namespace))
	}
	if c, ok := obj.(*api.PersistentVolumeClaim); ok {
		if err := o.releaseVolume(t, c); err != nil {
			return err
		}
	}
	m := obj.GetObjectMeta()
	t.Delete(specKey(k, m.Namespace, m.Name))
	t.Delete(statusKey(k, m.Namespace, m.Name))
	return nil
}

// finalized reports whether an update leaves an object being deleted with
// nothing left to wait for: no finalizer, and no grace period running (a
// terminating pod is removed by its node).
func finalized(m *api.ObjectMeta) bool {
	return m.DeletionTimestamp != nil && len(m.Finalizers) == 0 &&
		(m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds == 0)
}

// addedFinalizers are the finalizers in cur that old does not have.
func addedFinalizers(old, cur []string) []string {
	var out []string
	for _, f := range cur {
		if !slices.Contains(old, f) {
			out = append(out, f)
		}
	}
	return out
}

// blockingDependentIn names a stored dependent whose owner reference to
// owner blocks the owner's deletion (blockOwnerDeletion), or returns "".
func (o *Registry) blockingDependentIn(t *gossip.Txn, ownerKind *api.Kind, owner api.Object) (string, error) {
	om := owner.GetObjectMeta()
	if om.UID == "" {
		return "", nil
	}
	uid := []byte(om.UID)
	var found string
	var err error
	for _, dk := range api.Kinds {
		prefix := specPrefix + dk.Resource + "/"
		if ownerKind.Namespaced {
			if !dk.Namespaced {
				continue
			}
			prefix += om.Namespace + "/"
		}
		t.Range(prefix, func(r *gossip.Record) bool {
			if r.Deleted || !bytes.Contains(r.Value, uid) {
				return true
			}
			dep, derr := decode(dk, r, nil)
			if derr != nil {
				err = api.NewInternal(derr)
				return false
			}
			if dm := dep.GetObjectMeta(); api.BlocksOwner(dm, om.UID) {
				found = dk.Singular + " " + keyOfMeta(dm)
				return false
			}
			return true
		})
		if found != "" || err != nil {
			break
		}
	}
	return found, err
}

func keyOfMeta(m *api.ObjectMeta) string {
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// releaseDependents finds the objects whose ownerReferences name owner's
// uid. A dependent that another owner also holds, or every dependent when
// del is nil, only loses its reference to owner; the others are given to
// del.
func (o *Registry) releaseDependents(t *gossip.Txn, ownerKind *api.Kind, owner api.Object, del func(*api.Kind, api.Object) error) error {
	om := owner.GetObjectMeta()
	if om.UID == "" {
		return nil
	}
	uid := []byte(om.UID)
	type dependent struct {
		k   *api.Kind
		rec *gossip.Record
	}
	var found []dependent
	for _, dk := range api.Kinds {
		// Owner references are namespace-local: a namespaced owner has
		// dependents in its own namespace only.
		prefix := specPrefix + dk.Resource + "/"
		if ownerKind.Namespaced {
			if !dk.Namespaced {
				continue
			}
			prefix += om.Namespace + "/"
		}
		t.Range(prefix, func(r *gossip.Record) bool {
			if !r.Deleted && bytes.Contains(r.Value, uid) {
				found = append(found, dependent{dk, r})
			}
			return true
		})
	}
	for _, d := range found {
		dep, err := decode(d.k, d.rec, nil)
		if err != nil {
			return api.NewInternal(err)
		}
		dm := dep.GetObjectMeta()
		kept := make([]api.OwnerReference, 0, len(dm.OwnerReferences))
		for _, ref := range dm.OwnerReferences {
			if ref.UID != om.UID {
				kept = append(kept, ref)
			}
		}
		if len(kept) == len(dm.OwnerReferences) {
			continue // the uid appeared elsewhere in it
		}
		if del != nil && len(kept) == 0 {
			if err := del(d.k, dep); err != nil {
				return err
			}
			continue
		}
		dm.OwnerReferences = kept
		if len(kept) == 0 {
			dm.OwnerReferences = nil
		}
		dm.ResourceVersion = ""
		spec, err := encodeSpec(dep)
		if err != nil {
			return api.NewInternal(err)
		}
		if err := o.putSpec(t, d.k, dep, spec, 0); err != nil {
			return err
		}
	}
	return nil
}

func needsGracefulDelete(p *api.Pod, opts api.DeleteOptions) bool {
	if p.Spec.NodeName == "" || api.IsPodTerminal(p) {
		return false
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds == 0 {
		return false
	}
	return p.Spec.TerminationGracePeriodSeconds != nil
}

// stageNamespaceDelete removes a namespace and, with it, every object inside.
// Pods inside are deleted at once here; their nodes clean up the containers.
func (o *Registry) stageNamespaceDelete(t *gossip.Txn, n *api.Namespace) error {
	if n.Name == "default" {
		return api.NewStatusError(403, api.ReasonForbidden, `namespace "default" cannot be deleted`)
	}
	for _, k := range api.Kinds {
		if !k.Namespaced {
			continue
		}
		prefix := specPrefix + k.Resource + "/" + n.Name + "/"
		var keys []string
		t.Range(prefix, func(r *gossip.Record) bool {
			if !r.Deleted && len(r.Key) > len(prefix) {
				keys = append(keys, r.Key[len(specPrefix):])
			}
			return true
		})
		for _, key := range keys {
			t.Delete(specPrefix + key)
			t.Delete(statusPrefix + key)
		}
	}
	t.Delete(specKey(api.KindNamespace, "", n.Name))
	t.Delete(statusKey(api.KindNamespace, "", n.Name))
	return nil
}

// Apply actions, as kubectl prints them.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
)

// ActionPruned is what ApplyPrune did with an object it deleted.
const ActionPruned = "pruned"

// Apply creates or updates every object in one atomic step: either all of
// them are stored or, on the first error, none. Existing objects keep their
// status; a given resourceVersion is ignored (apply is last-writer-wins).
func (o *Registry) Apply(ctx context.Context, objs []api.Object) ([]string, error) {
	actions, _, err := o.ApplyPrune(ctx, objs, nil, nil)
	return actions, err
}

// ApplyPrune is Apply that also deletes the objects of prune in the same
// atomic step, as kubectl apply --prune does in several: the state the
// objects describe replaces the one before, with nothing in between.
// Each object of prune is deleted only if it is still the one the caller
// saw (its uid) and still matches sel; one that is gone or changed is left
// (its action is ""). Pods and namespaces are not pruned (they have their
// own graceful deletes).
func (o *Registry) ApplyPrune(ctx context.Context, objs, prune []api.Object, sel api.Selector) (actions, pruned []string, err error) {
	for _, p := range prune {
		if k := api.KindOf(p); k == api.KindPod || k == api.KindNamespace || !k.Namespaced {
			return nil, nil, api.NewBadRequest(fmt.Sprintf("apply cannot prune %s: only namespaced objects other than pods", k.Resource))
		}
	}
	actions = make([]string, len(objs))
	pruned = make([]string, len(prune))
	_, err = o.update(ctx, func(t *gossip.Txn) error {
		for i, p := range prune {
			pruned[i] = ""
			k, m := api.KindOf(p), p.GetObjectMeta()
			cur := t.Get(specKey(k, m.Namespace, m.Name))
			if cur == nil || cur.Deleted {
				continue
			}
			live, err := decode(k, cur, nil)
			if err != nil {
				return api.NewInternal(err)
			}
			lm := live.GetObjectMeta()
			if lm.UID != m.UID || (sel != nil && !sel.Matches(lm.Labels)) {
				continue
			}
			t.Delete(specKey(k, m.Namespace, m.Name))
			t.Delete(statusKey(k, m.Namespace, m.Name))
			pruned[i] = ActionPruned
		}
		for i, obj := range objs {
			k := api.KindOf(obj)
			m := obj.GetObjectMeta()
			m.ResourceVersion = ""
			m.Namespace = nsFor(k, m.Namespace)
			if cur := t.Get(specKey(k, m.Namespace, m.Name)); cur == nil || cur.Deleted {
				if _, err := o.prepareCreate(t, obj); err != nil {
					return indexed(i, len(objs), err)
				}
				if err := o.writeCreate(t, k, obj); err != nil {
					return err
				}
				actions[i] = ActionCreated
				continue
			}
			_, changed, err := o.stageUpdate(t, obj, true, false)
			if err != nil {
				return indexed(i, len(objs), err)
			}
			actions[i] = ActionUnchanged
			if changed {
				actions[i] = ActionConfigured
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return actions, pruned, nil
}

// indexed names the document an error is about when several were sent.
func indexed(i, n int, err error) error {
	var se *api.StatusError
	if n > 1 && errors.As(err, &se) {
		c := *se
		c.ErrStatus.Message = fmt.Sprintf("document %d of %d: %s", i+1, n, se.ErrStatus.Message)
		return &c
	}
	return err
}

const nameChars = "bcdfghjklmnpqrstvwxz2456789"

func generateName(base string) string {
	if len(base) > 58 {
		base = base[:58]
	}
	return base + randomSuffix(5)
}

func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nameChars[int(b[i])%len(nameChars)]
	}
	return string(b)
}

func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
