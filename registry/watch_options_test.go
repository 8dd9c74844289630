package registry

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// A watch asked for its initial events (as client-go's streaming list
// asks) gets an ADDED for every object, then a BOOKMARK annotated as the
// end of them at a version from which the changes after follow.
func TestWatchInitialEventsEndWithBookmark(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newTestObjects(t, "")
	first, _ := o.Create(ctx, testDeployment("a", 1))
	o.Create(ctx, testDeployment("b", 1))
	// A version is given, but the initial events are asked for: the
	// current state comes, not the changes after the version.
	ch, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{ResourceVersion: first.GetObjectMeta().ResourceVersion,
		InitialEvents: true, InitialEventsBookmark: true})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for range 2 {
		ev := nextEvent(t, ch)
		if ev.Type != api.Added {
			t.Fatalf("initial event %s", ev.Type)
		}
		names[ev.Object.GetObjectMeta().Name] = true
	}
	if !names["a"] || !names["b"] {
		t.Fatalf("initial events for %v", names)
	}
	ev := nextEvent(t, ch)
	m := ev.Object.GetObjectMeta()
	if ev.Type != api.Bookmark || m.Annotations[api.InitialEventsEndAnnotation] != "true" || m.ResourceVersion == "" {
		t.Fatalf("want the initial-events-end bookmark, got %s %+v", ev.Type, m)
	}
	if d, ok := ev.Object.(*api.Deployment); !ok || d.Kind != "Deployment" || d.APIVersion != "apps/v1" {
		t.Fatalf("the bookmark is a %T %+v, want a Deployment with its kind", ev.Object, ev.Object)
	}
	c, _ := o.Create(ctx, testDeployment("c", 1))
	if ev := nextEvent(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "c" {
		t.Fatalf("after the bookmark: %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
	if parseRV(c.GetObjectMeta().ResourceVersion) <= parseRV(m.ResourceVersion) {
		t.Fatalf("the bookmark's version %s is not before the next change's %s", m.ResourceVersion, c.GetObjectMeta().ResourceVersion)
	}
}

// sendInitialEvents=false without a version: only the changes from now.
func TestWatchWithoutInitialEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newTestObjects(t, "")
	o.Create(ctx, testDeployment("old", 1))
	ch, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{NoInitialEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	o.Create(ctx, testDeployment("new", 1))
	if ev := nextEvent(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "new" {
		t.Fatalf("first event %s %s, want ADDED new", ev.Type, ev.Object.GetObjectMeta().Name)
	}
}

// A watch that allows bookmarks gets one with a current version when idle,
// and resuming from it misses nothing.
func TestWatchIdleBookmark(t *testing.T) {
	defer func(d time.Duration) { bookmarkIdle = d }(bookmarkIdle)
	bookmarkIdle = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newTestObjects(t, "")
	ch, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{Bookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := o.Create(ctx, testDeployment("web", 1))
	if ev := nextEvent(t, ch); ev.Type != api.Added {
		t.Fatalf("got %s", ev.Type)
	}
	// Other kinds change: the bookmark moves past them.
	o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "default"}})
	ev := nextEvent(t, ch)
	if ev.Type != api.Bookmark {
		t.Fatalf("want a bookmark when idle, got %s", ev.Type)
	}
	rv := ev.Object.GetObjectMeta().ResourceVersion
	if parseRV(rv) <= parseRV(web.GetObjectMeta().ResourceVersion) {
		t.Fatalf("bookmark at %s, not after the last change %s", rv, web.GetObjectMeta().ResourceVersion)
	}
	o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{})
	resumed, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, resumed); ev.Type != api.Deleted || ev.Object.GetObjectMeta().Name != "web" {
		t.Fatalf("resumed from the bookmark: %s", ev.Type)
	}
}

// A field selector narrows a watch; an object that starts or stops
// matching (a pod bound to a node) comes as ADDED or DELETED.
func TestWatchFieldSelector(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newTestObjects(t, "")
	fs, err := api.ParseFieldSelector(api.KindDeployment, "metadata.name=b")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{FieldSelector: fs})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		o.Create(ctx, testDeployment(string(rune('a'+i)), 1))
	}
	if ev := nextEvent(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "b" {
		t.Fatalf("got %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
	o.Delete(ctx, api.KindDeployment, "default", "a", api.DeleteOptions{})
	o.Delete(ctx, api.KindDeployment, "default", "b", api.DeleteOptions{})
	if ev := nextEvent(t, ch); ev.Type != api.Deleted || ev.Object.GetObjectMeta().Name != "b" {
		t.Fatalf("got %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
}
