package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/daemon/membership"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func newHealthStore(t *testing.T, mem membership.Source, opts ...gossip.Option) *HealthStore {
	st, err := gossip.Open("", "h1", nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := NewHealthStore(registry.New(st), mem, "")
	ctx := context.Background()
	if _, err := h.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"h1", "h2"} {
		if _, err := h.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func readyOf(t *testing.T, h *HealthStore, name string) string {
	o, err := h.Get(context.Background(), api.KindNode, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return api.FindCondition(o.(*api.Node).Status.Conditions, api.NodeReady).Status
}

func TestNodeReadyFollowsMembershipInReadsAndWatches(t *testing.T) {
	mem := &membership.Static{}
	now := time.Now()
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: true, Since: now})
	h := newHealthStore(t, mem)
	if readyOf(t, h, "h2") != api.ConditionTrue {
		t.Fatal("a live member is not Ready")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.Watch(ctx, api.KindNode, "", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the initial ADDED events
		<-ch
	}
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: false, Since: time.Now()})
	select {
	case ev := <-ch:
		n := ev.Object.(*api.Node)
		if ev.Type != api.Modified || n.Name != "h2" || api.FindCondition(n.Status.Conditions, api.NodeReady).Status != api.ConditionUnknown {
			t.Fatalf("event %s %s %+v", ev.Type, n.Name, n.Status.Conditions)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no watch event when the member died")
	}
	if readyOf(t, h, "h2") != api.ConditionUnknown {
		t.Fatal("a dead member reads Ready")
	}
}

func TestEvictionRemovesPodsOfNodesGoneTooLong(t *testing.T) {
	mem := &membership.Static{}
	now := time.Now()
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: false, Since: now})
	h := newHealthStore(t, mem)
	ctx := context.Background()
	mk := func(name, node string, tol []api.Toleration) {
		_, err := h.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: node, Tolerations: tol, Containers: []api.Container{{Name: "c", Image: "i:1"}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("on-dead", "h2", nil)
	mk("daemon", "h2", []api.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: api.TaintNoExecute}})
	mk("on-live", "h1", nil)
	for _, name := range []string{"on-dead", "daemon", "on-live"} {
		o, _ := h.Get(ctx, api.KindPod, "default", name)
		p := o.(*api.Pod)
		p.Status.Phase = api.PodRunning
		p.Status.Conditions = []api.Condition{{Type: api.PodReady, Status: api.ConditionTrue}}
		if _, err := h.UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string) bool {
		o, err := h.Get(ctx, api.KindPod, "default", name)
		return err == nil && api.IsPodReady(o.(*api.Pod))
	}
	clock := now
	e := NewEvictor(h, 10*time.Second, events.NopRecorder{}, slog.New(slog.DiscardHandler))
	e.now = func() time.Time { return clock }
	e.sweep(ctx, now)
	if _, err := h.Get(ctx, api.KindPod, "default", "on-dead"); err != nil {
		t.Fatal("evicted before the timeout")
	}
	// Before the timeout, the unready node's pods stop counting as ready,
	// DaemonSet pods included: nobody can vouch for them.
	if ready("on-dead") || ready("daemon") || !ready("on-live") {
		t.Fatalf("ready after the first sweep: on-dead %v, daemon %v, on-live %v", ready("on-dead"), ready("daemon"), ready("on-live"))
	}
	clock = now.Add(11 * time.Second)
	e.sweep(ctx, now)
	if _, err := h.Get(ctx, api.KindPod, "default", "on-dead"); !api.IsNotFound(err) {
		t.Fatalf("the pod of a node gone past the timeout is still there: %v", err)
	}
	for _, keep := range []string{"daemon", "on-live"} {
		if _, err := h.Get(ctx, api.KindPod, "default", keep); err != nil {
			t.Fatalf("%s was evicted: %v", keep, err)
		}
	}
}

// A node watch that falls behind ends with the store's ERROR event, passed
// on (not a panic on a non-Node object), and the channel closes.
func TestNodeWatchPassesTheErrorEventOn(t *testing.T) {
	mem := &membership.Static{}
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: time.Now()})
	h := newHealthStore(t, mem, gossip.WithSubscriptionLimits(5, 1<<20))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.Watch(ctx, api.KindNode, "", api.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // nobody reads meanwhile
		if _, err := h.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("n%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var last api.WatchEvent
	for ev := range ch {
		last = ev
	}
	if last.Type != api.Error || !api.IsGone(last.Object.(*registry.WatchError)) {
		t.Fatalf("the node watch ended with %s %#v, want the 410 ERROR event", last.Type, last.Object)
	}
}

// engineDown writes, as node name's own agent would, Ready False because
// its container engine does not answer.
func engineDown(t *testing.T, h *HealthStore, name string, since time.Time) {
	t.Helper()
	o, err := h.Get(context.Background(), api.KindNode, "", name)
	if err != nil {
		t.Fatal(err)
	}
	n := o.(*api.Node)
	api.SetCondition(&n.Status.Conditions, api.Condition{Type: api.NodeReady, Status: api.ConditionFalse,
		Reason: "KubeletNotReady", Message: "container runtime is down: engine ping: connection refused",
		LastTransitionTime: api.NewTime(since)})
	if _, err := h.UpdateStatus(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// Ready combines membership and the node's own word: a live member whose
// agent says its engine is down is not Ready (False, with the agent's
// reason), in reads and in watches, also after a membership flap; a dead
// member is Unknown whatever it last said.
func TestNodeReadyCombinesMembershipAndTheAgentsOwnCondition(t *testing.T) {
	mem := &membership.Static{}
	now := time.Now()
	alive := func(h2 bool) {
		mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: h2, Since: time.Now()})
	}
	alive(true)
	h := newHealthStore(t, mem)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.Watch(ctx, api.KindNode, "", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := func() *api.Node {
		t.Helper()
		for {
			select {
			case ev := <-ch:
				if n := ev.Object.(*api.Node); n.Name == "h2" {
					return n
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no watch event for h2")
			}
		}
	}
	next() // ADDED
	engineDown(t, h, "h2", now)
	for _, n := range []*api.Node{next(), getNode(t, h, "h2")} {
		c := api.FindCondition(n.Status.Conditions, api.NodeReady)
		if c.Status != api.ConditionFalse || c.Reason != "KubeletNotReady" || c.Message == "" {
			t.Fatalf("Ready of a node whose engine is down: %+v", c)
		}
	}
	alive(false)
	if c := api.FindCondition(next().Status.Conditions, api.NodeReady); c.Status != api.ConditionUnknown {
		t.Fatalf("Ready of a dead member: %+v", c)
	}
	alive(true)
	if c := api.FindCondition(next().Status.Conditions, api.NodeReady); c.Status != api.ConditionFalse {
		t.Fatalf("Ready of a member back whose engine is still down: %+v", c)
	}
	// The agent says its engine answers again.
	n := getNode(t, h, "h2")
	api.SetCondition(&n.Status.Conditions, api.Condition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady"})
	if _, err := h.UpdateStatus(ctx, n); err != nil {
		t.Fatal(err)
	}
	if c := api.FindCondition(next().Status.Conditions, api.NodeReady); c.Status != api.ConditionTrue {
		t.Fatalf("Ready once the engine is back: %+v", c)
	}
}

func getNode(t *testing.T, h *HealthStore, name string) *api.Node {
	t.Helper()
	o, err := h.Get(context.Background(), api.KindNode, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Node)
}

// A live node whose engine is down is evicted like a lost one, except that
// pods tolerating not-ready (DaemonSet pods) stay, and the Event says why.
func TestEvictionOfANodeWhoseEngineIsDown(t *testing.T) {
	mem := &membership.Static{}
	now := time.Now()
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: true, Since: now})
	h := newHealthStore(t, mem)
	ctx := context.Background()
	for _, name := range []string{"app", "daemon"} {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: "h2", Containers: []api.Container{{Name: "c", Image: "i:1"}}}}
		if name == "daemon" {
			p.Spec.Tolerations = []api.Toleration{{Key: api.TaintNotReady, Operator: "Exists", Effect: api.TaintNoExecute}}
		}
		if _, err := h.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	engineDown(t, h, "h2", now)
	rec := &reasons{}
	e := NewEvictor(h, 10*time.Second, rec, slog.New(slog.DiscardHandler))
	e.now = func() time.Time { return now.Add(5 * time.Second) }
	e.sweep(ctx, now)
	if _, err := h.Get(ctx, api.KindPod, "default", "app"); err != nil {
		t.Fatal("evicted before the timeout")
	}
	e.now = func() time.Time { return now.Add(11 * time.Second) }
	e.sweep(ctx, now)
	if _, err := h.Get(ctx, api.KindPod, "default", "app"); !api.IsNotFound(err) {
		t.Fatalf("the pod of a node whose engine is down was not evicted: %v", err)
	}
	if _, err := h.Get(ctx, api.KindPod, "default", "daemon"); err != nil {
		t.Fatalf("the pod tolerating not-ready was evicted: %v", err)
	}
	if len(rec.messages) != 1 || !strings.Contains(rec.messages[0], "container runtime is down") {
		t.Fatalf("eviction events: %q", rec.messages)
	}
}

type reasons struct {
	mu       sync.Mutex
	messages []string
}

func (r *reasons) Eventf(_ api.Object, _, _, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, fmt.Sprintf(format, args...))
}

// The bookmark that ends a streaming list of nodes passes unchanged: it is
// a position, not a node that membership could make Ready.
func TestNodeWatchPassesBookmarksOn(t *testing.T) {
	mem := &membership.Static{}
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: time.Now()})
	h := newHealthStore(t, mem)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.Watch(ctx, api.KindNode, "", api.ListOptions{InitialEventsBookmark: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ev := <-ch; ev.Type != api.Added {
			t.Fatalf("initial event %s", ev.Type)
		}
	}
	ev := <-ch
	n := ev.Object.(*api.Node)
	if ev.Type != api.Bookmark || n.Name != "" || len(n.Status.Conditions) != 0 || n.Annotations[api.InitialEventsEndAnnotation] != "true" {
		t.Fatalf("want the bookmark unchanged, got %s %+v", ev.Type, n)
	}
	// Membership changes: no event for the bookmark's empty node.
	mem.Set(membership.Member{Name: "h1", Alive: false, Since: time.Now()})
	select {
	case ev := <-ch:
		if ev.Object.GetObjectMeta().Name == "" {
			t.Fatalf("an event for the bookmark: %s %+v", ev.Type, ev.Object)
		}
	case <-time.After(200 * time.Millisecond):
	}
}

// A host that stops answering loses its pods after the eviction timeout; one
// whose agent left on purpose (a restart) keeps them for RestartGrace.
func TestEvictionWaitsLongerForAnAgentThatLeft(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name       string
		member     membership.Member
		reason     string
		kept, gone time.Duration // after the member went
	}{
		{"stopped answering", membership.Member{Name: "h2", Since: now}, "NodeStatusUnknown", 2 * time.Second, 3 * time.Second},
		{"left", membership.Member{Name: "h2", Left: true, Since: now}, ReasonAgentLeft, RestartGrace - time.Second, RestartGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := &membership.Static{}
			mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, tc.member)
			h := newHealthStore(t, mem)
			ctx := context.Background()
			o, err := h.Get(ctx, api.KindNode, "", "h2")
			if err != nil {
				t.Fatal(err)
			}
			if c := api.FindCondition(o.(*api.Node).Status.Conditions, api.NodeReady); c.Status != api.ConditionUnknown || c.Reason != tc.reason {
				t.Fatalf("Ready of h2: %s %s, want Unknown %s", c.Status, c.Reason, tc.reason)
			}
			if _, err := h.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "app", Namespace: "default"},
				Spec: api.PodSpec{NodeName: "h2", Containers: []api.Container{{Name: "c", Image: "i:1"}}}}); err != nil {
				t.Fatal(err)
			}
			e := NewEvictor(h, 3*time.Second, events.NopRecorder{}, slog.New(slog.DiscardHandler))
			e.now = func() time.Time { return now.Add(tc.kept) }
			e.sweep(ctx, now)
			if _, err := h.Get(ctx, api.KindPod, "default", "app"); err != nil {
				t.Fatalf("evicted after %s: %v", tc.kept, err)
			}
			e.now = func() time.Time { return now.Add(tc.gone) }
			e.sweep(ctx, now)
			if _, err := h.Get(ctx, api.KindPod, "default", "app"); !api.IsNotFound(err) {
				t.Fatalf("not evicted after %s: %v", tc.gone, err)
			}
		})
	}
}

// Run evicts at the moment the timeout ends, not at the next whole-second
// tick after it.
func TestEvictionRunsWhenTheTimeoutEnds(t *testing.T) {
	mem := &membership.Static{}
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: time.Now()}, membership.Member{Name: "h2", Alive: true, Since: time.Now()})
	h := newHealthStore(t, mem)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := h.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "app", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "h2", Containers: []api.Container{{Name: "c", Image: "i:1"}}}}); err != nil {
		t.Fatal(err)
	}
	e := NewEvictor(h, 1300*time.Millisecond, events.NopRecorder{}, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	started := time.Now()
	go func() { defer close(done); e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // Run leads from now
	gone := time.Now()
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: gone}, membership.Member{Name: "h2", Since: gone})
	for {
		if _, err := h.Get(ctx, api.KindPod, "default", "app"); api.IsNotFound(err) {
			break
		}
		if time.Since(gone) > 3*time.Second {
			t.Fatal("not evicted within 3 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The timeout counts from the transition time as stored (whole
	// seconds), or from when Run started leading if that is later. The
	// ticks come at whole seconds after Run started; the deadline falls
	// between them.
	evicted := time.Now()
	from := gone.Truncate(time.Second)
	if from.Before(started) {
		from = started
	}
	end := from.Add(1300 * time.Millisecond)
	if evicted.Before(end.Add(-20*time.Millisecond)) || evicted.After(end.Add(300*time.Millisecond)) {
		t.Fatalf("evicted %s after the timeout ended, want within 0.3 s", evicted.Sub(end).Round(time.Millisecond))
	}
}

// A paged list of Nodes (kubectl get nodes asks by 500) shows the same
// Ready as a whole one.
func TestNodeReadyInPagedLists(t *testing.T) {
	mem := &membership.Static{}
	now := time.Now()
	mem.Set(membership.Member{Name: "h1", Alive: true, Since: now}, membership.Member{Name: "h2", Alive: false, Since: now})
	h := newHealthStore(t, mem)
	var got []string
	after := ""
	for {
		page, _, more, err := h.ListPage(context.Background(), api.KindNode, "", nil, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			n := o.(*api.Node)
			got = append(got, n.Name+"="+api.FindCondition(n.Status.Conditions, api.NodeReady).Status)
			after = "/" + n.Name
		}
		if !more {
			break
		}
	}
	if want := "h1=True,h2=Unknown"; strings.Join(got, ",") != want {
		t.Fatalf("paged nodes: %v, want %s", got, want)
	}
}
