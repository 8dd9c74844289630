package registry_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func overflowObjects(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil, gossip.WithSubscriptionLimits(50, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := registry.New(st)
	if _, err := o.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return o
}

func writeConfigMaps(t *testing.T, o *registry.Registry, n, size int) {
	t.Helper()
	for i := range n {
		cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: "default"},
			Data: map[string]string{"v": strings.Repeat("x", size)}}
		if _, err := o.Create(context.Background(), cm); err != nil {
			t.Fatal(err)
		}
	}
}

// A watcher that stops reading is cut off: after the events it had taken,
// its stream ends with an ERROR event carrying a 410, and the channel closes.
func TestStalledObjectsWatchEndsWithGone(t *testing.T) {
	o := overflowObjects(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := o.Watch(ctx, api.KindConfigMap, "", api.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	writeConfigMaps(t, o, 200, 10)
	var last api.WatchEvent
	n := 0
	for ev := range ch {
		last = ev
		n++
	}
	if last.Type != api.Error {
		t.Fatalf("the stream of a stalled watcher ended with %s after %d events, want ERROR", last.Type, n)
	}
	we, ok := last.Object.(*registry.WatchError)
	if !ok || we.Code != 410 || !api.IsGone(we) {
		t.Fatalf("ERROR event object %#v, want a 410 WatchError", last.Object)
	}
	if n > 60 {
		t.Fatalf("%d events reached a watcher whose queue holds 50", n)
	}
}

// Through the API: the client of a stalled watch gets the 410 ERROR event
// (the signal to list again) and the end of the stream.
func TestStalledAPIWatchEndsWithGone(t *testing.T) {
	o := overflowObjects(t)
	ts := httptest.NewServer(server.New(server.Config{Store: o, Version: "test"}))
	defer ts.Close()
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, rv, err := c.List(ctx, api.KindConfigMap, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctx, api.KindConfigMap, "default", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads: the client's goroutine, then TCP, then the server's
	// sender block, and the subscription fills (50 changes or 1 MiB).
	writeConfigMaps(t, o, 300, 64<<10)
	var last api.WatchEvent
	for ev := range ch {
		last = ev
	}
	if err := client.EventError(last); !api.IsGone(err) {
		t.Fatalf("the stalled watch ended with %s %v, want a 410 ERROR event", last.Type, err)
	}
}
