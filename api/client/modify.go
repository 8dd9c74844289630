package client

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// modifyAttempts bounds Modify's read-change-write rounds; more conflicts
// than this mean someone else writes the object all the time.
const modifyAttempts = 5

// Modify reads an object, lets mutate change it and writes it back with the
// resourceVersion it was read at, so that a concurrent write is never
// silently overwritten: on a Conflict the object is read again and mutate
// runs again on the fresh copy. mutate reports whether it changed anything;
// when it did not, nothing is written. Modify returns the object as stored
// (or as read, when unchanged) and whether it was written.
func (c *Client) Modify(ctx context.Context, k *api.Kind, ns, name string, mutate func(api.Object) (bool, error)) (api.Object, bool, error) {
	for attempt := 1; ; attempt++ {
		obj, err := c.Get(ctx, k, ns, name)
		if err != nil {
			return nil, false, err
		}
		changed, err := mutate(obj)
		if err != nil || !changed {
			return obj, false, err
		}
		out, err := c.Update(ctx, k, ns, obj)
		if err == nil {
			return out, true, nil
		}
		if !api.IsConflict(err) || attempt == modifyAttempts {
			return nil, false, err
		}
		// A short, growing pause lets the other writer finish.
		select {
		case <-ctx.Done():
			return nil, false, fmt.Errorf("updating %s %q: %w", k.Resource, name, ctx.Err())
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}
