package informer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry/informer"
)

// collect gathers a watch's events as "TYPE name" until the test ends.
func collect(t *testing.T, ch <-chan api.WatchEvent) func() []string {
	var mu sync.Mutex
	var got []string
	go func() {
		for ev := range ch {
			mu.Lock()
			got = append(got, ev.Type+" "+ev.Object.GetObjectMeta().Name)
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// A View's List then Watch from its resourceVersion: what changed between
// them is told once, what the list already held is not told again.
func TestViewWatchStartsExactlyAfterItsList(t *testing.T) {
	reg := newRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t)(reg.Create(ctx, configMap("default", "a", nil)))
	must(t)(reg.Create(ctx, configMap("default", "b", nil)))
	inf := startInformer(t, reg)
	view := inf.View()
	objs, rv, err := view.List(ctxTimeout(t), api.KindConfigMap, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); !slices.Equal(got, []string{"default/a", "default/b"}) {
		t.Fatalf("list: %v", got)
	}
	// Between the list and the watch: a delete and a create.
	must(t)(reg.Delete(ctx, api.KindConfigMap, "default", "a", api.DeleteOptions{}))
	must(t)(reg.Create(ctx, configMap("default", "c", nil)))
	poll.True(t, wait, "the cache has the changes", func() (bool, string) {
		_, ok := inf.Cache(api.KindConfigMap).Get("default", "c")
		return ok, ""
	})
	ch, err := view.Watch(ctx, api.KindConfigMap, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, ch)
	must(t)(reg.Create(ctx, configMap("default", "d", nil)))
	want := []string{"DELETED a", "ADDED c", "ADDED d"}
	poll.True(t, wait, "the changes after the list, each once", func() (bool, string) {
		return slices.Equal(got(), want), fmt.Sprint(got())
	})
	// A watch without a list's token starts with every object.
	all := collect(t, must2(t)(view.Watch(ctx, api.KindConfigMap, "", api.ListOptions{})))
	poll.True(t, wait, "a fresh watch adds every object", func() (bool, string) {
		return slices.Equal(all(), []string{"ADDED b", "ADDED c", "ADDED d"}), fmt.Sprint(all())
	})
}

func must2(t *testing.T) func(<-chan api.WatchEvent, error) <-chan api.WatchEvent {
	return func(ch <-chan api.WatchEvent, err error) <-chan api.WatchEvent {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
}

// A View narrowed to a node shows only that node's pods, in its list and
// its watch (the runner's view); a selector and a namespace narrow further.
func TestViewNarrowedToANode(t *testing.T) {
	reg := newRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t)(reg.Create(ctx, pod("default", "mine", "n1", map[string]string{"app": "x"}, "")))
	must(t)(reg.Create(ctx, pod("other", "mine-too", "n1", nil, "")))
	must(t)(reg.Create(ctx, pod("default", "theirs", "n2", map[string]string{"app": "x"}, "")))
	inf := startInformer(t, reg)
	view := inf.View().Narrow(api.KindPod, informer.OnNode("n1"))
	objs, rv, err := view.List(ctxTimeout(t), api.KindPod, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); !slices.Equal(got, []string{"default/mine", "other/mine-too"}) {
		t.Fatalf("list: %v", got)
	}
	sel := api.Selector{{Key: "app", Operator: "=", Values: []string{"x"}}}
	if objs, _, _ := view.List(ctxTimeout(t), api.KindPod, "default", sel); !slices.Equal(names(objs), []string{"default/mine"}) {
		t.Fatalf("list with namespace and selector: %v", names(objs))
	}
	got := collect(t, must2(t)(view.Watch(ctx, api.KindPod, "", api.ListOptions{ResourceVersion: rv})))
	must(t)(reg.Create(ctx, pod("default", "elsewhere", "n2", nil, "")))
	must(t)(reg.Create(ctx, pod("default", "here", "n1", nil, "")))
	poll.True(t, wait, "only the node's new pod", func() (bool, string) {
		return slices.Equal(got(), []string{"ADDED here"}), fmt.Sprint(got())
	})
}

// A copying View hands out objects its consumer may change: the shared
// ones stay as they were (the informer checks, startInformer fails the
// test otherwise).
func TestCopyingViewProtectsTheSharedObjects(t *testing.T) {
	reg := newRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t)(reg.Create(ctx, pod("default", "p", "", map[string]string{"app": "x"}, "")))
	inf := startInformer(t, reg)
	view := inf.View().Copies()
	objs, _, err := view.List(ctxTimeout(t), api.KindPod, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := objs[0].(*api.Pod)
	p.Spec.NodeName, p.Labels["app"] = "n1", "changed"
	shared, _ := inf.Cache(api.KindPod).Get("default", "p")
	if sp := shared.(*api.Pod); sp.Spec.NodeName != "" || sp.Labels["app"] != "x" {
		t.Fatalf("the shared pod changed: %+v", sp)
	}
}

// A Watch that comes long after its List answers 410, so that its consumer
// lists again rather than miss what changed meanwhile.
func TestViewWatchLongAfterItsListIsGone(t *testing.T) {
	defer informer.SetUnclaimedTTL(50 * time.Millisecond)()
	reg := newRegistry(t)
	inf := startInformer(t, reg)
	view := inf.View()
	_, rv, err := view.List(ctxTimeout(t), api.KindConfigMap, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	poll.True(t, wait, "the list's listener given up", func() (bool, string) {
		s := inf.Stats()["configmaps"]
		return s.Listeners == 0, fmt.Sprint(s.Listeners)
	})
	if _, err := view.Watch(ctxTimeout(t), api.KindConfigMap, "", api.ListOptions{ResourceVersion: rv}); !api.IsGone(err) {
		t.Fatalf("a watch from an expired list: %v, want 410 Gone", err)
	}
}

// An object that came and went while its consumer was busy is told as a
// delete (a consumer counting what it made sees every object), never as
// nothing.
func TestObjectThatCameAndWentIsToldAsADelete(t *testing.T) {
	reg := newRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf := startInformer(t, reg)
	if err := inf.WaitForSync(ctxTimeout(t), api.KindConfigMap); err != nil {
		t.Fatal(err)
	}
	ch := inf.Cache(api.KindConfigMap).Watch(ctx, informer.Everything())
	if ev := <-ch; ev.Type != informer.Synced {
		t.Fatalf("first event %s, want synced", ev.Type)
	}
	// The consumer's goroutine is held on a's add while x comes and goes.
	must(t)(reg.Create(ctx, configMap("default", "a", nil)))
	must(t)(reg.Create(ctx, configMap("default", "x", nil)))
	must(t)(reg.Delete(ctx, api.KindConfigMap, "default", "x", api.DeleteOptions{}))
	poll.True(t, wait, "the cache saw x go", func() (bool, string) {
		s := inf.Stats()["configmaps"]
		return s.Events >= 3, fmt.Sprint(s.Events)
	})
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-ch:
			got = append(got, ev.Type+" "+ev.Object.GetObjectMeta().Name)
		case <-time.After(wait):
			t.Fatalf("events %v, then nothing", got)
		}
	}
	if want := []string{"ADDED a", "DELETED x"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
