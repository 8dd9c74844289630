package imagemove

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Lister lists the engine's images.
type Lister interface {
	ListImages(ctx context.Context) ([]engine.ImageSummary, error)
}

// StatusImages reads and writes this node's status.images.
type StatusImages interface {
	// Current returns what the node's status lists now.
	Current(ctx context.Context) ([]api.ContainerImage, error)
	// Write replaces the node's status.images.
	Write(ctx context.Context, images []api.ContainerImage) error
}

// Reporter keeps this node's status.images in step with its engine: it
// lists the images at start, every Interval and at each Kick, and writes
// the status only when the list differs from what the status holds, so
// that an idle host adds nothing to gossip traffic.
type Reporter struct {
	eng      Lister
	status   StatusImages
	interval time.Duration
	max      int
	kick     chan struct{}
	log      *slog.Logger
}

// NewReporter returns a Reporter; interval 0 means 10 s.
func NewReporter(eng Lister, status StatusImages, interval time.Duration, log *slog.Logger) *Reporter {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &Reporter{eng: eng, status: status, interval: interval, max: api.MaxNodeImages,
		kick: make(chan struct{}, 1), log: log}
}

// Kick asks for a report soon (an image was loaded or pulled); it never
// blocks.
func (r *Reporter) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reports until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	failing := false
	for {
		if err := r.ReportOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				r.log.Warn("reporting this node's images failed; trying again", "err", err)
			} else {
				r.log.Debug("reporting this node's images failed", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// ReportOnce lists the engine's images and writes them if they changed.
func (r *Reporter) ReportOnce(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	list, err := r.eng.ListImages(lctx)
	cancel()
	if err != nil {
		return err
	}
	want := Inventory(list, r.max)
	cur, err := r.status.Current(ctx)
	if err != nil {
		return err
	}
	if equal(cur, want) {
		return nil
	}
	if err := r.status.Write(ctx, want); err != nil {
		return err
	}
	r.log.Debug("node images written", "count", len(want))
	return nil
}

func equal(a, b []api.ContainerImage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].SizeBytes != b[i].SizeBytes || len(a[i].Names) != len(b[i].Names) {
			return false
		}
		for j := range a[i].Names {
			if a[i].Names[j] != b[i].Names[j] {
				return false
			}
		}
	}
	return true
}
