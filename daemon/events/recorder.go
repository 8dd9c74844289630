package events

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Store is what the recorder needs of the object store.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
}

// Recorder writes Events. The zero value is not usable; use New.
type Recorder struct {
	store     Store
	component string
	host      string
	log       *slog.Logger
	ttl       time.Duration

	// queues are the writers' queues, shared with the recorders of other
	// components: the events of one aggregation key always take the same
	// one, so its repeats are counted in order, while the writers of
	// different keys write at once and share the store's commits.
	queues  []chan *api.Event
	seed    maphash.Seed
	dropped *droppedLog

	mu     sync.Mutex
	recent map[string]string // aggregation key -> event name
}

// DefaultTTL is how long events are kept, as in Kubernetes.
const DefaultTTL = time.Hour

// Writers and their queues' length: a burst of events (a rollout of
// thousands of pods makes a few per pod) waits for a writer rather than
// being dropped, and several writers keep up with it.
const (
	writers     = 8
	writerQueue = 512
)

// droppedLog logs dropped events at most once per interval, with their
// count, so that a flood of them does not flood the log too.
type droppedLog struct {
	count atomic.Int64
	last  atomic.Int64 // unix nanoseconds of the last line
}

// New makes a recorder for a component (e.g. "kubelet", "scheduler") on host.
func New(store Store, component, host string, log *slog.Logger) *Recorder {
	queues := make([]chan *api.Event, writers)
	for i := range queues {
		queues[i] = make(chan *api.Event, writerQueue)
	}
	return &Recorder{store: store, component: component, host: host, ttl: DefaultTTL,
		log: log.With("component", "events"), queues: queues, seed: maphash.MakeSeed(),
		dropped: &droppedLog{}, recent: map[string]string{}}
}

// ForComponent returns a recorder sharing the queues, with another component name.
func (r *Recorder) ForComponent(component string) *Recorder {
	c := &Recorder{store: r.store, component: component, host: r.host, ttl: r.ttl, log: r.log,
		queues: r.queues, seed: r.seed, dropped: r.dropped, recent: map[string]string{}}
	return c
}

// Eventf records an event about obj. It never blocks: when the queue is
// full the event is dropped and logged.
func (r *Recorder) Eventf(obj api.Object, eventType, reason, format string, args ...any) {
	m := obj.GetObjectMeta()
	k := api.KindOf(obj)
	ns := m.Namespace
	if ns == "" {
		ns = "default"
	}
	now := api.Now()
	ev := &api.Event{
		ObjectMeta: api.ObjectMeta{Namespace: ns},
		InvolvedObject: api.ObjectReference{Kind: k.Kind, APIVersion: k.APIVersion(), Namespace: m.Namespace,
			Name: m.Name, UID: m.UID},
		Reason: reason, Message: fmt.Sprintf(format, args...), Type: eventType,
		Source:         api.EventSource{Component: r.component, Host: r.host},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingComponent: r.component, ReportingInstance: r.host,
	}
	q := r.queues[maphash.String(r.seed, aggregationKey(ev))%uint64(len(r.queues))]
	select {
	case q <- ev:
	default:
		r.drop(reason, m.Name)
	}
}

// drop counts an event dropped; the first of every 10 seconds is logged,
// with the count since the last line.
func (r *Recorder) drop(reason, object string) {
	n := r.dropped.count.Add(1)
	now := time.Now().UnixNano()
	last := r.dropped.last.Load()
	if now-last < int64(10*time.Second) || !r.dropped.last.CompareAndSwap(last, now) {
		return
	}
	n = r.dropped.count.Swap(0)
	r.log.Warn("events dropped: queue full", "count", n, "reason", reason, "object", object)
}

// Run writes queued events until ctx ends, and deletes this host's events
// older than the TTL. Its writers stop with it.
func (r *Recorder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, q := range r.queues {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-q:
					r.write(ctx, ev)
				}
			}
		})
	}
	expire := time.NewTicker(5 * time.Minute)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expire.C:
			r.expire(ctx)
		}
	}
}

func aggregationKey(ev *api.Event) string {
	return ev.InvolvedObject.UID + "|" + ev.Source.Component + "|" + ev.Type + "|" + ev.Reason + "|" + ev.Message
}

func (r *Recorder) write(ctx context.Context, ev *api.Event) {
	key := aggregationKey(ev)
	r.mu.Lock()
	name, seen := r.recent[key]
	r.mu.Unlock()
	if seen {
		if obj, err := r.store.Get(ctx, api.KindEvent, ev.Namespace, name); err == nil {
			old := obj.(*api.Event)
			old.Count++
			old.LastTimestamp = ev.LastTimestamp
			if _, err := r.store.Update(ctx, old); err == nil {
				return
			}
		}
	}
	ev.Name = fmt.Sprintf("%s.%s", ev.InvolvedObject.Name, strconv.FormatInt(time.Now().UnixNano(), 16))
	if _, err := r.store.Create(ctx, ev); err != nil {
		r.log.Debug("event not written", "reason", ev.Reason, "object", ev.InvolvedObject.Name, "err", err)
		return
	}
	r.mu.Lock()
	if len(r.recent) > 4096 {
		r.recent = map[string]string{}
	}
	r.recent[key] = ev.Name
	r.mu.Unlock()
}

// expire removes events this host reported that are older than the TTL.
func (r *Recorder) expire(ctx context.Context) {
	list, _, err := r.store.List(ctx, api.KindEvent, "", nil)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-r.ttl)
	for _, o := range list {
		ev := o.(*api.Event)
		if ev.Source.Host == r.host && ev.LastTimestamp.Before(cutoff) {
			_, _ = r.store.Delete(ctx, api.KindEvent, ev.Namespace, ev.Name, api.DeleteOptions{})
		}
	}
	r.mu.Lock()
	r.recent = map[string]string{}
	r.mu.Unlock()
}
