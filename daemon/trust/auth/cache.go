package auth

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Source is the part of the object store the cache reads.
type Source interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
}

// snapshot is what every request is decided against: rebuilt whole when a
// role, binding or token changes, swapped atomically, never modified.
type snapshot struct {
	policy *Policy
	tokens map[string]*api.Token
}

// Cache keeps the cluster's roles, bindings and tokens in memory, following
// the store, so that authenticating and authorising a request costs a map
// lookup and a few rule comparisons. A revoked token stops working as soon
// as its deletion reaches this agent.
type Cache struct {
	src  Source
	log  *slog.Logger
	cur  atomic.Pointer[snapshot]
	kick chan struct{}
}

var watched = []*api.Kind{api.KindClusterRole, api.KindClusterRoleBinding, api.KindRole, api.KindRoleBinding, api.KindToken}

// NewCache loads the current policy; Run keeps it current.
func NewCache(ctx context.Context, src Source, log *slog.Logger) (*Cache, error) {
	c := &Cache{src: src, log: log.With("component", "auth"), kick: make(chan struct{}, 1)}
	if err := c.rebuild(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cache) snap() *snapshot { return c.cur.Load() }

// Run follows the store until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	for _, k := range watched {
		go c.follow(ctx, k)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		// Changes arrive in bursts (an apply of many roles): gather them.
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
		if err := c.rebuild(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("reloading roles, bindings and tokens failed; retrying", "err", err)
			time.AfterFunc(time.Second, c.signal)
		}
	}
}

func (c *Cache) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// follow watches one kind, asking for a rebuild on every change, and
// watches again if the watch ends.
func (c *Cache) follow(ctx context.Context, k *api.Kind) {
	for ctx.Err() == nil {
		ch, err := c.src.Watch(ctx, k, "", api.ListOptions{})
		if err != nil {
			c.log.Warn("watching for authorisation changes failed; retrying", "kind", k.Kind, "err", err)
		} else {
			for range ch {
				c.signal()
			}
			c.signal() // missed changes are caught by the rebuild
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cache) rebuild(ctx context.Context) error {
	lists := make([][]api.Object, len(watched))
	for i, k := range watched {
		objs, _, err := c.src.List(ctx, k, "", nil)
		if err != nil {
			return err
		}
		lists[i] = objs
	}
	var (
		crs  []*api.ClusterRole
		crbs []*api.ClusterRoleBinding
		rs   []*api.Role
		rbs  []*api.RoleBinding
	)
	tokens := map[string]*api.Token{}
	for _, o := range lists[0] {
		crs = append(crs, o.(*api.ClusterRole))
	}
	for _, o := range lists[1] {
		crbs = append(crbs, o.(*api.ClusterRoleBinding))
	}
	for _, o := range lists[2] {
		rs = append(rs, o.(*api.Role))
	}
	for _, o := range lists[3] {
		rbs = append(rbs, o.(*api.RoleBinding))
	}
	for _, o := range lists[4] {
		t := o.(*api.Token)
		tokens[t.Name] = t
	}
	c.cur.Store(&snapshot{policy: NewPolicy(crs, crbs, rs, rbs), tokens: tokens})
	return nil
}

// Policy returns the current policy.
func (c *Cache) Policy() *Policy { return c.snap().policy }

// token returns the named token, or nil. A token the snapshot does not
// hold yet is read from the store: a token works as soon as its creation
// is acknowledged, not only after the rebuild that follows (a name no
// token has costs one map lookup there).
func (c *Cache) token(name string) *api.Token {
	if t := c.snap().tokens[name]; t != nil {
		return t
	}
	obj, err := c.src.Get(context.Background(), api.KindToken, "", name)
	if err != nil {
		return nil
	}
	t, _ := obj.(*api.Token)
	return t
}
