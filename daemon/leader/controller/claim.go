package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// errOwnerGone means an owner changed (deleted, re-created) while it was
// adopting objects; it must not adopt anything more in this sync.
var errOwnerGone = errors.New("controller: owner was deleted or re-created during adoption")

// claimer decides which objects an owner controls, as Kubernetes'
// ControllerRefManager does: objects it controls and that still match its
// selector are kept, those that no longer match are released, orphans that
// match are adopted, and objects controlled by someone else are left alone.
type claimer struct {
	store Store
	owner api.Object
	sel   api.Selector

	// recheck is done once, before the first adoption: the owner read at
	// the start of the sync must still be the one in the store.
	once     sync.Once
	checkErr error
}

func newClaimer(store Store, owner api.Object, sel api.Selector) *claimer {
	return &claimer{store: store, owner: owner, sel: sel}
}

// claim returns the objects the owner controls after adopting and releasing.
// Objects that could not be adopted or released are left out, and the first
// error is returned along with the rest.
func (c *claimer) claim(ctx context.Context, objs []api.Object) ([]api.Object, error) {
	uid := c.owner.GetObjectMeta().UID
	var out []api.Object
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil && !api.IsNotFound(err) {
			firstErr = err
		}
	}
	for _, obj := range objs {
		m := obj.GetObjectMeta()
		ref := m.ControllerRef()
		matches := c.sel.Matches(m.Labels)
		switch {
		case ref != nil && ref.UID == uid && matches:
			out = append(out, obj)
		case ref != nil && ref.UID == uid:
			keep(c.release(ctx, obj))
		case ref != nil:
			// controlled by another owner
		case matches && m.DeletionTimestamp == nil:
			adopted, err := c.adopt(ctx, obj)
			keep(err)
			if err == nil {
				out = append(out, adopted)
			}
		}
	}
	return out, firstErr
}

func (c *claimer) adopt(ctx context.Context, obj api.Object) (api.Object, error) {
	c.once.Do(func() { c.checkErr = c.recheckOwner(ctx) })
	if c.checkErr != nil {
		return nil, c.checkErr
	}
	obj = informer.Copy(obj) // shared with the informer's other consumers
	m := obj.GetObjectMeta()
	m.OwnerReferences = append(m.OwnerReferences, api.NewControllerRef(c.owner))
	// The resourceVersion read with the list makes this a compare-and-swap:
	// if someone else changed the object first, we try again on the next sync.
	got, err := c.store.Update(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("adopt %s %s: %w", api.KindOf(obj).Singular, keyOf(obj), err)
	}
	return got, nil
}

func (c *claimer) release(ctx context.Context, obj api.Object) error {
	uid := c.owner.GetObjectMeta().UID
	obj = informer.Copy(obj) // shared with the informer's other consumers
	m := obj.GetObjectMeta()
	refs := m.OwnerReferences[:0:0]
	for _, r := range m.OwnerReferences {
		if r.UID != uid {
			refs = append(refs, r)
		}
	}
	m.OwnerReferences = refs
	if _, err := c.store.Update(ctx, obj); err != nil {
		return fmt.Errorf("release %s %s: %w", api.KindOf(obj).Singular, keyOf(obj), err)
	}
	return nil
}

func (c *claimer) recheckOwner(ctx context.Context) error {
	om := c.owner.GetObjectMeta()
	fresh, err := c.store.Get(ctx, api.KindOf(c.owner), om.Namespace, om.Name)
	if err != nil {
		return fmt.Errorf("recheck %s %s before adopting: %w", api.KindOf(c.owner).Singular, keyOf(c.owner), err)
	}
	if fresh.GetObjectMeta().UID != om.UID || fresh.GetObjectMeta().DeletionTimestamp != nil {
		return errOwnerGone
	}
	return nil
}
