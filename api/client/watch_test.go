package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/internal/poll"
)

func next(t *testing.T, ch <-chan api.WatchEvent) api.WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the watch channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return api.WatchEvent{}
}

func TestWatchStreamsChanges(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newPod("default", "a", map[string]string{"app": "web"}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sel, _ := api.ParseSelector("app=web")
	ch, err := c.Watch(ctx, api.KindPod, "default", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	req := lastRequest(t, srv)
	if req.Query.Get("watch") != "true" || req.Query.Get("labelSelector") != "app=web" {
		t.Fatalf("watch query = %v", req.Query)
	}
	if ev := next(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "a" {
		t.Fatalf("first event = %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}
	srv.Add(newPod("default", "skipped", map[string]string{"app": "db"}))
	srv.Add(newPod("default", "b", map[string]string{"app": "web"}))
	ev := next(t, ch)
	pod, ok := ev.Object.(*api.Pod)
	if ev.Type != api.Added || !ok || pod.Name != "b" || pod.Kind != "Pod" {
		t.Fatalf("second event = %s %#v", ev.Type, ev.Object)
	}
	srv.Remove(api.KindPod, "default", "a")
	if ev := next(t, ch); ev.Type != api.Deleted || ev.Object.GetObjectMeta().Name != "a" {
		t.Fatalf("third event = %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
	}

	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			for range ch {
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel did not close after cancel")
	}
	poll.Cond(t, 5*time.Second, "watchers", func() bool { return srv.Watchers() == 0 })
}

func TestWatchFromResourceVersionSkipsExisting(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newPod("default", "old", nil))
	_, rv, err := c.List(ctxT(t), api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctxT(t), api.KindPod, "default", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	if q := lastRequest(t, srv).Query; q.Get("resourceVersion") != rv {
		t.Fatalf("resourceVersion not sent: %v", q)
	}
	poll.Cond(t, 5*time.Second, "watchers", func() bool { return srv.Watchers() == 1 })
	srv.Add(newPod("default", "new", nil))
	if ev := next(t, ch); ev.Object.GetObjectMeta().Name != "new" {
		t.Fatalf("got %s %s, want the new pod only", ev.Type, ev.Object.GetObjectMeta().Name)
	}
}

func TestWatchErrorEventCarriesStatus(t *testing.T) {
	srv, c := setup(t)
	ch, err := c.Watch(ctxT(t), api.KindPod, "", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 5*time.Second, "watchers", func() bool { return srv.Watchers() == 1 })
	srv.SendWatchError(api.KindPod, api.NewGone("too old resource version: 1 (40)").ErrStatus)
	ev := next(t, ch)
	if ev.Type != api.Error {
		t.Fatalf("event type %s", ev.Type)
	}
	if err := client.EventError(ev); !api.IsGone(err) || err.Error() != "too old resource version: 1 (40)" {
		t.Fatalf("EventError = %v", err)
	}
	if client.EventError(api.WatchEvent{Type: api.Added}) != nil {
		t.Fatal("an ADDED event carries no error")
	}
}

func TestWatchBrokenStreamEndsWithError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}}}`)
		fmt.Fprintln(w, `{"type":"MODIFIED","object":`) // cut off mid-object
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, "")
	ch, err := c.Watch(ctxT(t), api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); ev.Type != api.Added {
		t.Fatalf("first event %s", ev.Type)
	}
	ev := next(t, ch)
	if ev.Type != api.Error || client.EventError(ev) == nil {
		t.Fatalf("a broken stream must end with an ERROR event, got %s", ev.Type)
	}
	if _, ok := <-ch; ok {
		t.Fatal("the channel must close after the error")
	}
}

func TestWatchStreamEndClosesChannel(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"type":"ADDED","object":{"metadata":{"name":"a"}}}`)
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, "")
	ch, err := c.Watch(ctxT(t), api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); ev.Object.GetTypeMeta().Kind != "Pod" {
		t.Fatal("the kind must be filled in from the registry")
	}
	if _, ok := <-ch; ok {
		t.Fatal("a clean end of stream closes the channel without an event")
	}
}

// A watch from a list's resourceVersion gets the changes made in between,
// so that list-then-watch misses nothing; a position too old is Expired.
func TestWatchFromResourceVersionReplaysLaterChanges(t *testing.T) {
	srv, c := setup(t)
	srv.Add(newPod("default", "old", nil))
	_, rv, err := c.List(ctxT(t), api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Add(newPod("default", "between", nil), newPod("team", "elsewhere", nil))
	ch, err := c.Watch(ctxT(t), api.KindPod, "default", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); ev.Type != api.Added || ev.Object.GetObjectMeta().Name != "between" {
		t.Fatalf("got %s %s, want the pod added after the list", ev.Type, ev.Object.GetObjectMeta().Name)
	}
	srv.Add(newPod("default", "after", nil))
	if ev := next(t, ch); ev.Object.GetObjectMeta().Name != "after" {
		t.Fatalf("got %s, want the pod added after the watch began", ev.Object.GetObjectMeta().Name)
	}

	// The agent keeps a bounded history of changes: write (ConfigMaps, many
	// to a transaction, which is quick) until rv is out of it, then a watch
	// from there is Expired. Thousands of writes under the race detector on
	// a busy machine take a while: this part gets a minute of its own.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for written := 0; ; {
		batch := make([]api.Object, 1000)
		for i := range batch {
			written++
			batch[i] = &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "filler-" + strconv.Itoa(written), Namespace: "default"}}
		}
		if _, err := srv.Registry().Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		old, err := c.Watch(wctx, api.KindPod, "default", api.ListOptions{ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		ev := next(t, old)
		cancel()
		if api.IsGone(client.EventError(ev)) {
			break
		}
		if ev.Type == api.Error || written >= 100_000 {
			t.Fatalf("a position %d changes back: %s %v", written, ev.Type, client.EventError(ev))
		}
	}
}
