package imagemove

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// PodWatcher streams the pods bound to this node (the agent's informer,
// narrowed to the node): an ADDED event for each present pod first.
type PodWatcher func(ctx context.Context) (<-chan api.WatchEvent, error)

// Bounds of the prefetcher.
const (
	// prefetchQueue bounds the images waiting to be prefetched; beyond,
	// an image is left to the pod runner's own fetch.
	prefetchQueue = 64
	// prefetchWorkers is how many images are prefetched at once (the
	// Fetcher bounds transfers again).
	prefetchWorkers = 2
	// prefetchRetry is how long after a prefetch of an image another is
	// not started for it (a pod updated again, a failed copy).
	prefetchRetry = time.Minute
)

// Prefetcher starts copying a pod's images from peers the moment the pod
// is bound to this node, while the pod runner is still starting its
// sandbox: the runner's own fetch then joins the copy under way (the
// Fetcher shares concurrent fetches of one image) or finds the image
// here. Only images the pull policy lets the runner fetch are
// prefetched; a failure is left to the runner, which retries and falls
// back to the registry.
type Prefetcher struct {
	f     *Fetcher
	watch PodWatcher
	log   *slog.Logger

	mu     sync.Mutex
	recent map[string]time.Time // image -> last prefetch asked
}

// NewPrefetcher returns a Prefetcher feeding f from the pods watch streams.
func NewPrefetcher(f *Fetcher, watch PodWatcher, log *slog.Logger) *Prefetcher {
	return &Prefetcher{f: f, watch: watch, log: log, recent: map[string]time.Time{}}
}

// Run prefetches until ctx ends.
func (p *Prefetcher) Run(ctx context.Context) {
	queue := make(chan string, prefetchQueue)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range prefetchWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case image := <-queue:
					p.prefetch(ctx, image)
				}
			}
		})
	}
	for ctx.Err() == nil {
		events, err := p.watch(ctx)
		if err != nil {
			p.log.Debug("watching this node's pods for images failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for ev := range events {
			pod, ok := ev.Object.(*api.Pod)
			if !ok || ev.Type == api.Deleted || pod.DeletionTimestamp != nil || pod.Status.Phase != "" && pod.Status.Phase != api.PodPending {
				continue
			}
			for _, image := range p.wanted(pod, time.Now()) {
				select {
				case queue <- image:
				default: // full: the runner fetches it itself
				}
			}
		}
	}
}

// wanted returns the images of pod to prefetch: those the pull policy
// lets the runner fetch, not asked for within prefetchRetry.
func (p *Prefetcher) wanted(pod *api.Pod, now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for image, at := range p.recent {
		if now.Sub(at) > prefetchRetry {
			delete(p.recent, image)
		}
	}
	var out []string
	for _, cs := range [][]api.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.ImagePullPolicy == api.PullNever || c.Image == "" {
				continue
			}
			if _, asked := p.recent[c.Image]; asked || len(p.recent) >= prefetchQueue {
				continue
			}
			p.recent[c.Image] = now
			out = append(out, c.Image)
		}
	}
	return out
}

func (p *Prefetcher) prefetch(ctx context.Context, image string) {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	res, err := p.f.Fetch(fctx, image)
	switch {
	case err == nil && res.Source != SourcePresent:
		p.log.Debug("image prefetched for a pod bound here", "image", image, "from", res.Source)
	case err != nil && !errors.Is(err, ErrNoPeer) && !errors.Is(err, ErrNotMovable) && ctx.Err() == nil:
		p.log.Debug("prefetching an image failed; the pod runner tries again", "image", image, "err", err)
	}
}
