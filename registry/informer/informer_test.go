package informer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/registry/informer"
)

const wait = 10 * time.Second

func newRegistry(t testing.TB, opts ...gossip.Option) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st)
	for _, ns := range []string{"default", "other"} {
		if _, err := reg.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// countingSource counts the lists and watches the informer opens, and the
// objects the registry decoded for them.
type countingSource struct {
	informer.Source
	lists, watches, objects atomic.Int64
}

func (s *countingSource) List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	s.lists.Add(1)
	objs, rv, err := s.Source.List(ctx, k, ns, sel)
	s.objects.Add(int64(len(objs)))
	return objs, rv, err
}

func (s *countingSource) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	s.watches.Add(1)
	in, err := s.Source.Watch(ctx, k, ns, opts)
	if err != nil {
		return nil, err
	}
	out := make(chan api.WatchEvent)
	go func() {
		defer close(out)
		for ev := range in {
			s.objects.Add(1)
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// startInformer runs an informer that checks that nobody changes its
// objects.
func startInformer(t testing.TB, src informer.Source) *informer.Informer {
	t.Helper()
	inf := informer.New(src, informer.Options{CheckMutations: true, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := inf.Verify(); err != nil {
			t.Error(err)
		}
		cancel()
		<-done
	})
	return inf
}

func configMap(ns, name string, labels map[string]string) *api.ConfigMap {
	return &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Data: map[string]string{"k": name}}
}

func pod(ns, name, node string, labels map[string]string, owner string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "img"}}}}
	if owner != "" {
		p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: owner}}
	}
	return p
}

// must fails the test on a write's or read's error: must(t)(reg.Create(...)).
func must(t testing.TB) func(api.Object, error) api.Object {
	return func(o api.Object, err error) api.Object {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
}

func names(objs []api.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetObjectMeta().Namespace + "/" + o.GetObjectMeta().Name
	}
	return out
}

// recorder is a handler that records what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
	synced bool
}

func (r *recorder) handler() informer.Handler {
	add := func(s string) {
		r.mu.Lock()
		r.events = append(r.events, s)
		r.mu.Unlock()
	}
	name := func(o api.Object) string { return o.GetObjectMeta().Namespace + "/" + o.GetObjectMeta().Name }
	return informer.Handler{
		OnAdd:    func(o api.Object) { add("add " + name(o)) },
		OnUpdate: func(old, o api.Object) { add("update " + name(o)) },
		OnDelete: func(o api.Object) { add("delete " + name(o)) },
		OnSynced: func() {
			r.mu.Lock()
			r.synced = true
			r.mu.Unlock()
			add("synced")
		},
	}
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) has(ev string) bool { return slices.Contains(r.seen(), ev) }

// The cache follows the registry: the first list, then every change, with
// the indexes by namespace, label, owner and node kept in step.
func TestCacheFollowsTheRegistryWithIndexes(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	must(t)(reg.Create(ctx, pod("default", "a", "n1", map[string]string{"app": "web"}, "rs-1")))
	must(t)(reg.Create(ctx, pod("default", "b", "n2", map[string]string{"app": "web"}, "rs-1")))
	must(t)(reg.Create(ctx, pod("other", "c", "n1", map[string]string{"app": "web"}, "rs-2")))
	inf := startInformer(t, reg)
	pods := inf.Cache(api.KindPod)
	if err := inf.WaitForSync(ctxTimeout(t), api.KindPod); err != nil {
		t.Fatal(err)
	}
	if got := names(pods.ByNode("n1")); !slices.Equal(got, []string{"default/a", "other/c"}) {
		t.Fatalf("pods on n1: %v", got)
	}
	if got := names(pods.ByOwner("rs-1")); !slices.Equal(got, []string{"default/a", "default/b"}) {
		t.Fatalf("pods of rs-1: %v", got)
	}
	web := api.SelectorFromSet(map[string]string{"app": "web"})
	if got := names(pods.List("default", web)); !slices.Equal(got, []string{"default/a", "default/b"}) {
		t.Fatalf("app=web in default: %v", got)
	}
	if got := names(pods.List("", web)); len(got) != 3 {
		t.Fatalf("app=web everywhere: %v", got)
	}

	// A change of labels and a binding move the pod between index entries.
	o, _ := pods.Get("default", "b")
	b := informer.Copy(o.(*api.Pod))
	b.Labels = map[string]string{"app": "db"}
	b.Spec.NodeName = "n1"
	must(t)(reg.Update(ctx, b))
	poll.True(t, wait, "the update reaches the indexes", func() (bool, string) {
		got := names(pods.ByNode("n1"))
		return len(got) == 3 && len(pods.List("default", web)) == 1, fmt.Sprint(got)
	})
	if got := names(pods.List("default", api.SelectorFromSet(map[string]string{"app": "db"}))); !slices.Equal(got, []string{"default/b"}) {
		t.Fatalf("app=db: %v", got)
	}
	must(t)(reg.Delete(ctx, api.KindPod, "default", "a", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}))
	poll.True(t, wait, "the delete reaches the cache", func() (bool, string) {
		_, ok := pods.Get("default", "a")
		return !ok && len(pods.ByOwner("rs-1")) == 1, fmt.Sprint(names(pods.ByOwner("rs-1")))
	})
}

// Selectors the label index cannot answer (inequality, existence) still
// give what a scan gives.
func TestListMatchesEveryKindOfSelector(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	for i := range 30 {
		labels := map[string]string{"tier": []string{"web", "db", "cache"}[i%3], "n": fmt.Sprint(i % 5)}
		if i%4 == 0 {
			labels["canary"] = "yes"
		}
		must(t)(reg.Create(ctx, configMap([]string{"default", "other"}[i%2], fmt.Sprintf("cm-%d", i), labels)))
	}
	inf := startInformer(t, reg)
	cms := inf.Cache(api.KindConfigMap)
	if err := cms.WaitForSync(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"", "tier=web", "tier in (web,db)", "tier=web,n=1", "tier!=web", "canary", "!canary",
		"tier notin (db),canary", "tier=nothing", "n in (1,2),tier=db"} {
		sel, err := api.ParseSelector(text)
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{"", "default", "other"} {
			objs, _, err := reg.List(context.Background(), api.KindConfigMap, ns, sel)
			if err != nil {
				t.Fatal(err)
			}
			want := names(objs)
			if got := names(cms.List(ns, sel)); !slices.Equal(got, want) {
				t.Errorf("List(%q, %q) = %v, the registry lists %v", ns, text, got, want)
			}
		}
	}
}

// However many consumers follow a kind, the informer opens one watch and
// the registry decodes each change once.
func TestOneWatchPerKindWhateverTheConsumers(t *testing.T) {
	reg := newRegistry(t)
	src := &countingSource{Source: reg}
	inf := startInformer(t, src)
	if err := inf.WaitForSync(ctxTimeout(t), api.KindConfigMap); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var recs []*recorder
	for range 9 {
		r := &recorder{}
		recs = append(recs, r)
		inf.Cache(api.KindConfigMap).AddHandler(ctx, informer.Everything(), r.handler())
	}
	const n = 50
	for i := range n {
		must(t)(reg.Create(context.Background(), configMap("default", fmt.Sprintf("cm-%d", i), nil)))
	}
	for _, r := range recs {
		poll.True(t, wait, "every consumer sees every object", func() (bool, string) {
			return r.has(fmt.Sprintf("add default/cm-%d", n-1)), fmt.Sprint(len(r.seen()))
		})
	}
	if w, l := src.watches.Load(), src.lists.Load(); w != 1 || l != 1 {
		t.Fatalf("%d watches and %d lists for 9 consumers, want 1 and 1", w, l)
	}
	if got := src.objects.Load(); got != n {
		t.Fatalf("the registry decoded %d objects for %d changes and 9 consumers", got, n)
	}
}

// A consumer that does not take its changes holds up neither the informer
// nor the other consumers, and its queue holds one entry per object:
// changes to one object merge.
func TestStalledConsumerHoldsUpNobodyAndItsQueueMerges(t *testing.T) {
	reg := newRegistry(t)
	inf := startInformer(t, reg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := inf.Cache(api.KindConfigMap)
	release := make(chan struct{})
	var stalledSeen []string
	var mu sync.Mutex
	cms.AddHandler(ctx, informer.Everything(), informer.Handler{
		OnAdd: func(o api.Object) {
			<-release
			mu.Lock()
			stalledSeen = append(stalledSeen, "add "+o.GetObjectMeta().Name+"="+o.(*api.ConfigMap).Data["k"])
			mu.Unlock()
		},
		OnUpdate: func(_, o api.Object) {
			mu.Lock()
			stalledSeen = append(stalledSeen, "update "+o.GetObjectMeta().Name+"="+o.(*api.ConfigMap).Data["k"])
			mu.Unlock()
		},
	})
	fast := &recorder{}
	cms.AddHandler(ctx, informer.Everything(), fast.handler())

	must(t)(reg.Create(context.Background(), configMap("default", "first", nil)))
	poll.Cond(t, wait, "the stalled consumer is inside its handler", func() bool {
		return inf.Stats()["configmaps"].Objects == 1
	})
	const objects, rounds = 20, 10
	for i := range objects {
		must(t)(reg.Create(context.Background(), configMap("default", fmt.Sprintf("cm-%d", i), nil)))
	}
	for r := range rounds {
		for i := range objects {
			cm := configMap("default", fmt.Sprintf("cm-%d", i), nil)
			cm.Data["k"] = fmt.Sprint(r)
			o, _ := reg.Get(context.Background(), api.KindConfigMap, "default", cm.Name)
			cm.ResourceVersion = o.GetObjectMeta().ResourceVersion
			must(t)(reg.Update(context.Background(), cm))
		}
	}
	poll.True(t, wait, "the cache and the other consumer saw every last change", func() (bool, string) {
		o, ok := cms.Get("default", fmt.Sprintf("cm-%d", objects-1))
		return ok && o.(*api.ConfigMap).Data["k"] == fmt.Sprint(rounds-1) &&
			fast.has(fmt.Sprintf("update default/cm-%d", objects-1)), fmt.Sprint(inf.Stats()["configmaps"])
	})
	// Pending sums every consumer's queue: the fast one may still hold a
	// change for a moment; the stalled one's stays at one per object.
	poll.True(t, wait, fmt.Sprintf("at most one change per object (%d) waits for the stalled consumer", objects+1), func() (bool, string) {
		p := inf.Stats()["configmaps"].Pending
		return p <= objects+1, fmt.Sprintf("%d changes wait", p)
	})
	close(release)
	poll.True(t, wait, "the stalled consumer catches up", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(stalledSeen) == objects+1, fmt.Sprint(stalledSeen)
	})
	mu.Lock()
	defer mu.Unlock()
	// Each object once, in its last state: the updates merged into the add.
	for _, s := range stalledSeen[1:] {
		if want := fmt.Sprint(rounds - 1); s[len(s)-1:] != want {
			t.Fatalf("the stalled consumer was told %q, want the last state (%s)", s, want)
		}
	}
}

// The runner's view: only the pods of its node, a pod entering on binding
// and leaving when it is bound elsewhere or deleted.
func TestNodeFilterPassesOnlyThatNodesPods(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	must(t)(reg.Create(ctx, pod("default", "mine", "n1", nil, "")))
	must(t)(reg.Create(ctx, pod("default", "theirs", "n2", nil, "")))
	must(t)(reg.Create(ctx, pod("default", "pending", "", nil, "")))
	inf := startInformer(t, reg)
	if err := inf.WaitForSync(ctxTimeout(t), api.KindPod); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []string
	var mu sync.Mutex
	ch := inf.Cache(api.KindPod).Watch(wctx, informer.OnNode("n1"))
	go func() {
		for ev := range ch {
			mu.Lock()
			if ev.Type == informer.Synced {
				got = append(got, "synced")
			} else {
				got = append(got, ev.Type+" "+ev.Object.GetObjectMeta().Name+"@"+ev.Object.(*api.Pod).Spec.NodeName)
			}
			mu.Unlock()
		}
	}()
	bind := func(name, node string) {
		o := must(t)(reg.Get(ctx, api.KindPod, "default", name)).(*api.Pod)
		o.Spec.NodeName = node
		must(t)(reg.Update(ctx, o))
	}
	var want []string
	step := func(what string, events ...string) {
		t.Helper()
		want = append(want, events...)
		poll.True(t, wait, what, func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Equal(got, want), fmt.Sprint(got)
		})
	}
	step("the node's pods, then synced", "ADDED mine@n1", "synced")
	bind("pending", "n1")
	step("a pod bound to the node enters", "ADDED pending@n1")
	must(t)(reg.Create(ctx, pod("default", "later", "n2", nil, "")))
	must(t)(reg.Delete(ctx, api.KindPod, "default", "theirs", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}))
	must(t)(reg.Delete(ctx, api.KindPod, "default", "mine", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}))
	step("other nodes' pods never show", "DELETED mine@n1")
	bind("pending", "n2")
	step("a pod bound elsewhere leaves", "DELETED pending@n2")
}

// A watch that ends (here: cut while objects change) is followed by a
// fresh list, and consumers are told the difference: deletes for what went
// meanwhile, updates and adds for the rest.
func TestResyncAfterAWatchEndsTellsWhatChangedMeanwhile(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	for _, n := range []string{"stay", "change", "go"} {
		must(t)(reg.Create(ctx, configMap("default", n, nil)))
	}
	src := &cuttableSource{Source: reg}
	inf := startInformer(t, src)
	rec := &recorder{}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cms := inf.Cache(api.KindConfigMap)
	cms.AddHandler(cctx, informer.Everything(), rec.handler())
	poll.Cond(t, wait, "synced", func() bool { return rec.has("synced") })

	src.cut() // the watch ends; what follows is missed by it
	change := must(t)(reg.Get(ctx, api.KindConfigMap, "default", "change")).(*api.ConfigMap)
	change.Data["k"] = "new"
	must(t)(reg.Update(ctx, change))
	must(t)(reg.Delete(ctx, api.KindConfigMap, "default", "go", api.DeleteOptions{}))
	must(t)(reg.Create(ctx, configMap("default", "new", nil)))
	src.resume()

	poll.True(t, wait, "the relist's difference reaches the consumer", func() (bool, string) {
		return rec.has("delete default/go") && rec.has("update default/change") && rec.has("add default/new"), fmt.Sprint(rec.seen())
	})
	if rec.has("update default/stay") {
		t.Errorf("an unchanged object was told as updated: %v", rec.seen())
	}
	if got := names(cms.List("", nil)); !slices.Equal(got, []string{"default/change", "default/new", "default/stay"}) {
		t.Fatalf("cache after the relist: %v", got)
	}
	if st := inf.Stats()["configmaps"]; st.Relists == 0 {
		t.Fatalf("no relist counted: %+v", st)
	}
}

// cuttableSource ends the current watch on cut, and holds new watches
// until resume.
type cuttableSource struct {
	informer.Source
	mu     sync.Mutex
	stop   chan struct{}
	paused chan struct{}
}

func (s *cuttableSource) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = make(chan struct{})
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
}

func (s *cuttableSource) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.paused)
	s.paused = nil
}

func (s *cuttableSource) List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	s.mu.Lock()
	p := s.paused
	s.mu.Unlock()
	if p != nil {
		select {
		case <-p:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
	return s.Source.List(ctx, k, ns, sel)
}

func (s *cuttableSource) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	ctx, cancel := context.WithCancel(ctx)
	in, err := s.Source.Watch(ctx, k, ns, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	stop := make(chan struct{})
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	out := make(chan api.WatchEvent)
	go func() {
		defer cancel()
		defer close(out)
		for {
			select {
			case <-stop:
				return
			case ev, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- ev:
				case <-stop:
					return
				}
			}
		}
	}()
	return out, nil
}

// The informer itself falls behind (its source delivers slowly while a
// burst is written): the registry ends its watch with a 410, and the
// informer lists again and converges, with the deletes of the burst.
func TestInformerRecoversFromA410(t *testing.T) {
	reg := newRegistry(t, gossip.WithSubscriptionLimits(20, 1<<20))
	ctx := context.Background()
	for i := range 10 {
		must(t)(reg.Create(ctx, configMap("default", fmt.Sprintf("old-%d", i), nil)))
	}
	src := &slowSource{Source: reg, gate: make(chan struct{})}
	inf := startInformer(t, src)
	cms := inf.Cache(api.KindConfigMap)
	rec := &recorder{}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cms.AddHandler(cctx, informer.Everything(), rec.handler())
	if err := cms.WaitForSync(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		must(t)(reg.Delete(ctx, api.KindConfigMap, "default", fmt.Sprintf("old-%d", i), api.DeleteOptions{}))
	}
	for i := range 100 {
		must(t)(reg.Create(ctx, configMap("default", fmt.Sprintf("new-%d", i), nil)))
	}
	close(src.gate)
	poll.True(t, wait, "the cache converges after the 410", func() (bool, string) {
		return cms.Len() == 100 && rec.has("delete default/old-9") && rec.has("add default/new-99"),
			fmt.Sprintf("%d cached, %+v", cms.Len(), inf.Stats()["configmaps"])
	})
	if st := inf.Stats()["configmaps"]; st.Relists == 0 {
		t.Fatalf("the informer did not list again: %+v", st)
	}
}

// slowSource delivers no watch event until gate closes.
type slowSource struct {
	informer.Source
	gate chan struct{}
}

func (s *slowSource) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	in, err := s.Source.Watch(ctx, k, ns, opts)
	if err != nil {
		return nil, err
	}
	out := make(chan api.WatchEvent)
	go func() {
		defer close(out)
		select {
		case <-s.gate:
		case <-ctx.Done():
			return
		}
		for ev := range in {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// An object re-created under the same name (a new uid) is a delete of the
// old one and an add of the new, never an update across incarnations.
func TestRecreatedObjectIsDeleteThenAdd(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	must(t)(reg.Create(ctx, pod("default", "p", "n1", nil, "")))
	inf := startInformer(t, reg)
	type seen struct{ typ, uid string }
	var mu sync.Mutex
	var got []seen
	release := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := true
	inf.Cache(api.KindPod).AddHandler(cctx, informer.OnNode("n1"), informer.Handler{
		OnAdd: func(o api.Object) {
			if first {
				first = false
				<-release // hold the queue while the pod is re-created
			}
			mu.Lock()
			got = append(got, seen{"add", o.GetObjectMeta().UID})
			mu.Unlock()
		},
		OnUpdate: func(_, o api.Object) {
			mu.Lock()
			got = append(got, seen{"update", o.GetObjectMeta().UID})
			mu.Unlock()
		},
		OnDelete: func(o api.Object) {
			mu.Lock()
			got = append(got, seen{"delete", o.GetObjectMeta().UID})
			mu.Unlock()
		},
	})
	old := must(t)(reg.Get(ctx, api.KindPod, "default", "p")).GetObjectMeta().UID
	poll.Cond(t, wait, "the handler holds the first add", func() bool { return inf.Stats()["pods"].Events == 0 && inf.Cache(api.KindPod).Len() == 1 })
	must(t)(reg.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}))
	created := must(t)(reg.Create(ctx, pod("default", "p", "n1", nil, "")))
	close(release)
	want := []seen{{"add", old}, {"delete", old}, {"add", created.GetObjectMeta().UID}}
	poll.True(t, wait, "delete of the old, add of the new", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// With CheckMutations, a consumer that changes a shared object is caught.
func TestCheckMutationsCatchesAConsumerThatChangesAnObject(t *testing.T) {
	reg := newRegistry(t)
	must(t)(reg.Create(context.Background(), configMap("default", "cm", nil)))
	inf := informer.New(reg, informer.Options{CheckMutations: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(ctx) }()
	defer func() { cancel(); <-done }()
	cms := inf.Cache(api.KindConfigMap)
	if err := cms.WaitForSync(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	if err := inf.Verify(); err != nil {
		t.Fatalf("nothing changed yet: %v", err)
	}
	o, _ := cms.Get("default", "cm")
	informer.Copy(o.(*api.ConfigMap)).Data["k"] = "changed on a copy"
	if err := inf.Verify(); err != nil {
		t.Fatalf("changing a copy is fine: %v", err)
	}
	o.(*api.ConfigMap).Data["k"] = "changed in place"
	if err := inf.Verify(); err == nil {
		t.Fatal("a change of a shared object went unnoticed")
	}
}

func TestCopyIsDeep(t *testing.T) {
	ts := api.Now()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}, DeletionTimestamp: &ts,
		OwnerReferences: []api.OwnerReference{{UID: "u", Controller: api.Bool(true)}}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Env: []api.EnvVar{{Name: "X", Value: "1"}}}},
			TerminationGracePeriodSeconds: api.Int64(3)},
		Status: api.PodStatus{Conditions: []api.Condition{{Type: "Ready", Status: "True"}}}}
	c := informer.Copy(p)
	c.Labels["a"] = "changed"
	c.OwnerReferences[0].UID = "changed"
	*c.OwnerReferences[0].Controller = false
	c.Spec.Containers[0].Env[0].Value = "changed"
	*c.Spec.TerminationGracePeriodSeconds = 9
	c.Status.Conditions[0].Status = "False"
	c.DeletionTimestamp.Time = time.Time{}
	if p.Labels["a"] != "b" || p.OwnerReferences[0].UID != "u" || !*p.OwnerReferences[0].Controller ||
		p.Spec.Containers[0].Env[0].Value != "1" || *p.Spec.TerminationGracePeriodSeconds != 3 ||
		p.Status.Conditions[0].Status != "True" || p.DeletionTimestamp.IsZero() {
		t.Fatalf("changing the copy changed the original: %+v", p)
	}
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
