package imagemove

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ErrNoPeer: no other node reports the image.
var ErrNoPeer = errors.New("imagemove: no peer holds the image")

// Engine is what moving images needs of the local engine.
type Engine interface {
	InspectImage(ctx context.Context, ref string) (engine.ImageInfo, error)
	engine.ImageMover
}

// Config sets up a Fetcher.
type Config struct {
	// Self is this node's name; its own entry is never a source.
	Self string
	// Nodes lists the cluster's nodes (the agent's informer).
	Nodes func(ctx context.Context) ([]*api.Node, error)
	// Dial returns how to reach the agent of a node: a transport that
	// speaks mutual TLS with that node's certificate only, and the base
	// URL of its internal endpoints.
	Dial func(node string) (http.RoundTripper, *url.URL, error)
	// Attempts is how many rounds over the peers a fetch makes (default 2).
	Attempts int
	// RetryDelay separates the rounds (default 1 s).
	RetryDelay time.Duration
	// MaxBytes bounds one transfer, whatever the peer announced (default
	// 32 GiB). A transfer may also be at most twice the announced size
	// plus 64 MiB.
	MaxBytes int64
	// Parallel bounds the transfers this agent receives at once (default 2).
	Parallel int
	// Loaded is called after an image was loaded (the Reporter's Kick).
	Loaded func()
	Log    *slog.Logger
}

// Fetcher brings images from peer agents into the local engine.
type Fetcher struct {
	cfg   Config
	eng   Engine
	slots chan struct{}
	group singleflight.Group

	mu     sync.Mutex
	copied map[string]Result // name asked -> the copy made, until read
}

// maxCopied bounds the copies remembered for CopiedFrom.
const maxCopied = 64

// NewFetcher returns a Fetcher over the local engine.
func NewFetcher(eng Engine, cfg Config) *Fetcher {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 2
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 32 << 30
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 2
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{cfg: cfg, eng: eng, slots: make(chan struct{}, cfg.Parallel), copied: map[string]Result{}}
}

// Result says where an image came from.
type Result struct {
	ImageID string
	// Source is SourcePresent or the node the image came from.
	Source  string
	Bytes   int64
	Elapsed time.Duration
}

// SourcePresent is the Source of an image the engine held already.
const SourcePresent = "present"

// holder is a peer that reports the wanted image.
type holder struct {
	node string
	id   string
	size int64
}

// Fetch makes the local engine hold ref, from a peer that holds it. An
// image already present is not transferred. Concurrent fetches of one
// image share one transfer.
func (f *Fetcher) Fetch(ctx context.Context, ref string) (Result, error) {
	w, err := parseRef(ref)
	if err != nil {
		return Result{}, err
	}
	if r, ok, err := f.present(ctx, w); ok || err != nil {
		return r, err
	}
	ch := f.group.DoChan(w.String(), func() (any, error) {
		// Callers that come while a transfer runs wait for it; it runs
		// under the first caller's context. One that came just after
		// finds the image here.
		if r, ok, err := f.present(ctx, w); ok || err != nil {
			return r, err
		}
		return f.fetch(ctx, w)
	})
	select {
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return Result{}, r.Err
		}
		return r.Val.(Result), nil
	}
}

// remember keeps a copy's result for CopiedFrom; the oldest is dropped
// beyond maxCopied.
func (f *Fetcher) remember(name string, r Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.copied) >= maxCopied {
		for k := range f.copied { // any one: it only loses an event's detail
			delete(f.copied, k)
			break
		}
	}
	f.copied[name] = r
}

// CopiedFrom returns, once, the copy from a peer that brought ref here
// (a prefetch the pod runner did not see), so that the runner can tell
// in the pod's events where its image came from.
func (f *Fetcher) CopiedFrom(ref string) (Result, bool) {
	w, err := parseRef(ref)
	if err != nil {
		return Result{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.copied[w.String()]
	delete(f.copied, w.String())
	return r, ok
}

// present reports an image the engine holds already.
func (f *Fetcher) present(ctx context.Context, w wanted) (Result, bool, error) {
	info, err := f.eng.InspectImage(ctx, w.String())
	switch {
	case err == nil:
		return Result{ImageID: info.ID, Source: SourcePresent}, true, nil
	case errors.Is(err, engine.ErrImageNotFound):
		return Result{}, false, nil
	}
	return Result{}, false, err
}

func (f *Fetcher) fetch(ctx context.Context, w wanted) (Result, error) {
	holders, err := f.holders(ctx, w)
	if err != nil {
		return Result{}, err
	}
	if len(holders) == 0 {
		return Result{}, fmt.Errorf("%w: %s", ErrNoPeer, w)
	}
	var errs []error
	for round := range f.cfg.Attempts {
		if round > 0 {
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-time.After(f.cfg.RetryDelay):
			}
		}
		for _, h := range holders {
			start := time.Now()
			n, err := f.transfer(ctx, w, h)
			if err == nil {
				if f.cfg.Loaded != nil {
					f.cfg.Loaded()
				}
				r := Result{ImageID: h.id, Source: h.node, Bytes: n, Elapsed: time.Since(start)}
				f.remember(w.String(), r)
				f.cfg.Log.Info("image fetched from a peer", "image", w.String(), "id", h.id, "from", h.node,
					"bytes", n, "took", r.Elapsed.Round(time.Millisecond))
				return r, nil
			}
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			f.cfg.Log.Warn("fetching an image from a peer failed", "image", w.String(), "from", h.node, "round", round+1, "err", err)
			errs = append(errs, fmt.Errorf("from %s: %w", h.node, err))
		}
	}
	return Result{}, fmt.Errorf("fetch %s from peers: %w", w, errors.Join(errs...))
}

// holders lists the ready peers whose status lists the wanted image, in a
// random order so that fetches spread over them.
func (f *Fetcher) holders(ctx context.Context, w wanted) ([]holder, error) {
	nodes, err := f.cfg.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []holder
	for _, n := range nodes {
		if n.Name == f.cfg.Self || !ready(n) {
			continue
		}
		for _, img := range n.Status.Images {
			if id := img.ImageID(); id != "" && w.matches(img) {
				out = append(out, holder{node: n.Name, id: id, size: img.SizeBytes})
				break
			}
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

func ready(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// transfer streams the save of h's image into the local engine.
func (f *Fetcher) transfer(ctx context.Context, w wanted, h holder) (int64, error) {
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	rt, base, err := f.cfg.Dial(h.node)
	if err != nil {
		return 0, err
	}
	u := base.JoinPath(SavePath)
	u.RawQuery = url.Values{"id": {h.id}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("ask for the image: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return 0, fmt.Errorf("the peer answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if got := resp.Header.Get(HeaderImageID); got != h.id {
		return 0, fmt.Errorf("%w: the peer sends image %q, not %s", ErrBadArchive, got, h.id)
	}
	limit := f.cfg.MaxBytes
	if h.size > 0 {
		limit = min(limit, 2*h.size+64<<20)
	}
	pr, pw := io.Pipe()
	var (
		n        int64
		relayErr error
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		tw := tar.NewWriter(pw)
		n, relayErr = relay(tw, resp.Body, h.id, w.name, limit)
		if relayErr == nil {
			relayErr = tw.Close()
		}
		// An error cuts the load short: the engine never sees a
		// complete archive, so it loads nothing.
		pw.CloseWithError(relayErr)
	})
	loadErr := f.eng.LoadImage(ctx, pr)
	pr.CloseWithError(errors.New("load ended")) // unblocks the relay if the engine stopped reading
	wg.Wait()
	if relayErr != nil {
		return n, relayErr
	}
	if loadErr != nil {
		return n, loadErr
	}
	info, err := f.eng.InspectImage(ctx, w.String())
	if err != nil {
		return n, fmt.Errorf("after loading: %w", err)
	}
	if info.ID != h.id {
		return n, fmt.Errorf("%w: after loading, %s is %s, not %s", ErrBadArchive, w, info.ID, h.id)
	}
	return n, nil
}
