package imagemove

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func podWith(name string, policy string, images ...string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}}
	for _, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "c", Image: img, ImagePullPolicy: policy})
	}
	return p
}

func TestPrefetcherCopiesTheImagesOfPodsBoundHere(t *testing.T) {
	c := newCluster(t, "h1")
	web, never := newTestImage(t, "web"), newTestImage(t, "never")
	c.peers["h1"].hold(t, web, "web:1")
	c.peers["h1"].hold(t, never, "never:1")
	f := c.fetcher(Config{})
	events := make(chan api.WatchEvent, 4)
	// In order: once web:1 is here, the pod with policy Never was seen.
	events <- api.WatchEvent{Type: api.Added, Object: podWith("b", api.PullNever, "never:1")}
	events <- api.WatchEvent{Type: api.Added, Object: podWith("a", api.PullIfNotPresent, "web:1")}
	p := NewPrefetcher(f, func(context.Context) (<-chan api.WatchEvent, error) { return events, nil }, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); close(events); <-done }()
	poll.Until(t, 5*time.Second, "web:1 prefetched", func() error {
		if c.local.has("web:1") != web.id {
			return errors.New("not here")
		}
		return nil
	})
	// The runner, coming later, learns where it came from, once.
	if r, ok := f.CopiedFrom("web:1"); !ok || r.Source != "h1" {
		t.Errorf("CopiedFrom = %+v, %v; want h1", r, ok)
	}
	if _, ok := f.CopiedFrom("web:1"); ok {
		t.Error("CopiedFrom told twice")
	}
	if c.local.has("never:1") != "" || c.requestsTo("h1") != 1 {
		t.Errorf("an image with pull policy Never was fetched (%d requests)", c.requestsTo("h1"))
	}
}
