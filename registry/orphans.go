package registry

import (
	"context"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/gossip"
)

// OrphanGrace is how long a status record may wait for its object's spec
// record when this agent holds none (not even a tombstone): records of one
// object normally arrive together, so one older than this belongs to an
// object deleted and forgotten here.
const OrphanGrace = 10 * time.Minute

// CollectOrphanStatuses deletes the status records that belong to no live
// object: written on one side of a partition for an object deleted on the
// other (the delete's tombstone covers only the status records it saw), or
// left by an earlier incarnation of a re-created object. A status is an
// orphan when its object's spec record is
//
//   - a tombstone newer than the incarnation the status belongs to;
//   - a later incarnation than the status's;
//   - absent, and the status is older than OrphanGrace.
//
// Every agent runs it on its own state: the tombstones it writes win over
// the orphan wherever it still lives (MergeRecords), and tombstones of one
// key agree by last-writer-wins. It returns how many it deleted.
func (o *Registry) CollectOrphanStatuses(ctx context.Context) (int, error) {
	// Scan holds the store's read lock: reading the specs inside it would
	// take that lock again, and deadlock behind a waiting writer.
	var statuses []*gossip.Record
	o.st.Scan(statusPrefix, func(r *gossip.Record) { statuses = append(statuses, r) })
	var orphans []string
	for _, r := range statuses {
		if !r.Deleted && o.orphan(r, o.st.Get(specPrefix+strings.TrimPrefix(r.Key, statusPrefix))) {
			orphans = append(orphans, r.Key)
		}
	}
	if len(orphans) == 0 {
		return 0, nil
	}
	n := 0
	_, err := o.update(ctx, func(t *gossip.Txn) error {
		n = 0
		for _, key := range orphans {
			cur := t.Get(key)
			if cur == nil || cur.Deleted || !o.orphan(cur, t.Get(specPrefix+strings.TrimPrefix(key, statusPrefix))) {
				continue
			}
			t.Delete(key)
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// orphan reports whether the live status record st belongs to no live
// object, spec being its object's spec record (nil if none).
func (o *Registry) orphan(st, spec *gossip.Record) bool {
	created := createdOf(st)
	switch {
	case spec == nil:
		age := o.now().Sub(gossip.TimeOf(st.Version.Time))
		return age > OrphanGrace
	case spec.Deleted:
		// A status of an incarnation created after the delete may arrive
		// before its spec: it is not an orphan.
		return created.IsZero() || created.Compare(spec.Version) < 0
	}
	return !created.IsZero() && created.Compare(createdOf(spec)) < 0
}
