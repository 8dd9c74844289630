package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// DefaultResync is how often claims, routes and rules are checked even when
// nothing seems to have changed.
const DefaultResync = 30 * time.Second

// Pauses between attempts to list and watch Nodes again.
const (
	minPause = 100 * time.Millisecond
	maxPause = 5 * time.Second
)

// NodeSource is what following Node objects needs of the object store.
type NodeSource interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
}

// errWatchEvent: the watch sent an ERROR event; Nodes are listed again.
var errWatchEvent = errors.New("watch sent an error event")

// followNodes calls sync with all Nodes the source has after every list,
// after every batch of changes and every resync period, until ctx ends.
// sync must not keep or change the map.
func followNodes(ctx context.Context, src NodeSource, resync time.Duration, log *slog.Logger,
	sync func(context.Context, map[string]*api.Node)) {
	pause, failing := minPause, false
	for {
		start := time.Now()
		err := listWatchNodes(ctx, src, resync, sync)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > maxPause {
			pause = minPause
		}
		switch {
		case err != nil && !failing:
			log.Warn("following nodes failed; retrying", "in", pause, "err", err)
		case err != nil:
			log.Debug("following nodes failed again", "in", pause, "err", err)
		default:
			log.Debug("node watch ended; listing again", "in", pause)
		}
		failing = err != nil
		if !sleep(ctx, pause) {
			return
		}
		pause = min(2*pause, maxPause)
	}
}

func listWatchNodes(ctx context.Context, src NodeSource, resync time.Duration,
	sync func(context.Context, map[string]*api.Node)) error {
	// Ending the watch here, not only with ctx, stops the source's sender
	// when the watch is given up early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs, rv, err := src.List(ctx, api.KindNode, "", nil)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	ch, err := src.Watch(ctx, api.KindNode, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	nodes := map[string]*api.Node{}
	for _, o := range objs {
		if n, ok := o.(*api.Node); ok {
			nodes[n.Name] = n
		}
	}
	sync(ctx, nodes)
	tick := time.NewTicker(resync)
	defer tick.Stop()
	apply := func(ev api.WatchEvent) error {
		n, ok := ev.Object.(*api.Node)
		switch {
		case ev.Type == api.Error:
			return errWatchEvent
		case !ok:
		case ev.Type == api.Deleted:
			delete(nodes, n.Name)
		case ev.Type == api.Added || ev.Type == api.Modified:
			nodes[n.Name] = n
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			if err := apply(ev); err != nil {
				return err
			}
			// Take what else is pending, so that a burst syncs once.
		drain:
			for range 1000 {
				select {
				case ev, ok := <-ch:
					if !ok {
						break drain
					}
					if err := apply(ev); err != nil {
						return err
					}
				default:
					break drain
				}
			}
		}
		sync(ctx, nodes)
	}
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// NodeWriter is what writing this node's annotations needs of the store.
type NodeWriter interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
}

// AnnotateNode returns a Publisher that writes annotations on the Node
// name (a node writes only its own), reading it afresh and trying again
// after a conflicting write.
func AnnotateNode(store NodeWriter, name string) Publisher {
	return func(ctx context.Context, ann map[string]string) error {
		var err error
		for range 5 {
			var obj api.Object
			if obj, err = store.Get(ctx, api.KindNode, "", name); err != nil {
				return fmt.Errorf("read node %s: %w", name, err)
			}
			n := obj.(*api.Node)
			if n.Annotations == nil {
				n.Annotations = map[string]string{}
			}
			for k, v := range ann {
				if v == "" {
					delete(n.Annotations, k)
				} else {
					n.Annotations[k] = v
				}
			}
			if _, err = store.Update(ctx, n); err == nil || !api.IsConflict(err) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("annotate node %s: %w", name, err)
		}
		return nil
	}
}
