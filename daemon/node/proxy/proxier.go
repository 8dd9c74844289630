package proxy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultMinSyncInterval = 50 * time.Millisecond
	DefaultResyncInterval  = 5 * time.Minute
	DefaultRetryInterval   = time.Second
	// maxRetryInterval bounds the back-off of failing syncs.
	maxRetryInterval = 30 * time.Second
	// syncTimeout bounds the tools of one sync; a hung iptables must not
	// stop the proxier for good.
	syncTimeout = time.Minute
)

// ErrAlreadyRunning is returned by Run while another Run has not returned.
var ErrAlreadyRunning = errors.New("proxy: already running")

// Config sets up a Proxier. Zero values take the defaults.
type Config struct {
	Rules RulesConfig
	// Kernel runs the tools; nil: ExecKernel{}, the network namespace the
	// agent runs in.
	Kernel Kernel
	// MinSyncInterval is the least time between the end of one sync and
	// the start of the next: a change is applied at once, and the changes
	// that follow it together, once the interval has passed. Counted from
	// the end, so that while syncs are slow (thousands of rules) changes
	// still gather into one sync instead of each taking a sync of its own.
	MinSyncInterval time.Duration
	// ResyncInterval is how often every chain is rewritten and the jumps
	// checked even without changes, which repairs rules someone else
	// removed.
	ResyncInterval time.Duration
	// RetryInterval is the first pause after a failed sync; it doubles up
	// to 30 s while syncs keep failing.
	RetryInterval time.Duration
	// OnSync, when set, is called after every sync from the sync loop; it
	// must not block. It is the hook for metrics such as the
	// change-to-rules-installed latency.
	OnSync func(SyncResult)
}

func (c Config) withDefaults() Config {
	if c.Kernel == nil {
		c.Kernel = ExecKernel{}
	}
	if c.MinSyncInterval <= 0 {
		c.MinSyncInterval = DefaultMinSyncInterval
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = DefaultResyncInterval
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	return c
}

// Proxier keeps one node's service rules in step with the cluster.
type Proxier struct {
	cfg     Config
	log     *slog.Logger
	running atomic.Bool

	// kernel is what the loop knows of the kernel; only the goroutine in
	// Run (or Cleanup, when not running) touches it.
	kernel kernelState

	mu    sync.Mutex
	stats Stats
}

// kernelState is what the last syncs left in the kernel.
type kernelState struct {
	// known: applied reflects the kernel. False at first, after a failed
	// restore and at a resync: the next sync reads the kernel's shoal
	// chains and rewrites all of them.
	known   bool
	applied map[string]map[string][]byte // table -> chain -> its rules
	// ports are the service ports of the last applied nat table, for the
	// conntrack flushes; nil before the first (flows from before the
	// proxier started are left alone).
	ports         []servicePort
	jumpsOK       bool
	noConntrackOK bool // the missing conntrack tool was logged
}

// New makes a Proxier; a nil logger discards logs.
func New(cfg Config, log *slog.Logger) *Proxier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxier{cfg: cfg.withDefaults(), log: log.With("component", "proxy")}
}

// Stats returns the proxier's counters.
func (p *Proxier) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Cleanup removes every shoal chain and jump from the kernel. Call it when
// Run is not running; the next Run starts from scratch.
func (p *Proxier) Cleanup(ctx context.Context) error {
	if p.running.Load() {
		return ErrAlreadyRunning
	}
	p.kernel = kernelState{}
	return Cleanup(ctx, p.cfg.Kernel)
}

// Run keeps the rules in step with src until ctx ends, then returns nil.
// Rules are first written once both Services and Endpoints have been listed.
// Failed syncs are retried with back-off; they are logged and counted, and
// never end Run.
func (p *Proxier) Run(ctx context.Context, src Source) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer p.running.Store(false)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan update)
	for _, k := range feedKinds {
		wg.Go(func() { p.feed(ctx, src, k, updates) })
	}
	p.log.Info("service proxy started")
	p.loop(ctx, updates)
	p.log.Info("service proxy stopped")
	return nil
}

// loop takes updates in and syncs: at once for a change after a quiet
// spell, at most once per MinSyncInterval during a burst.
func (p *Proxier) loop(ctx context.Context, updates <-chan update) {
	c := newCache()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	resync := time.NewTicker(p.cfg.ResyncInterval)
	defer resync.Stop()
	var (
		armed      bool
		dirty      bool      // changes not yet in the kernel
		changedAt  time.Time // when the first of them arrived
		lastEnd    time.Time // of the last sync
		failing    bool      // the last sync failed
		retryPause = p.cfg.RetryInterval
	)
	arm := func(d time.Duration) {
		if !armed {
			armed = true
			timer.Reset(max(d, 0))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			if !c.apply(u) {
				continue
			}
			if !dirty {
				dirty, changedAt = true, time.Now()
			}
			if c.ready() {
				arm(time.Until(lastEnd.Add(p.cfg.MinSyncInterval)))
			}
		case <-resync.C:
			p.kernel.known = false
			if c.ready() {
				arm(0)
			}
		case <-timer.C:
			armed = false
			var since time.Time
			if dirty {
				since = changedAt
			}
			err := p.sync(ctx, c, since)
			lastEnd = time.Now()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// The first failure of a run of them is a warning; the
				// rest repeat it, and are counted in Stats.
				level := slog.LevelWarn
				if failing {
					level = slog.LevelDebug
				}
				p.log.Log(ctx, level, "sync failed; retrying", "in", retryPause, "err", err)
				failing = true
				arm(retryPause)
				retryPause = min(2*retryPause, maxRetryInterval)
				continue
			}
			if failing {
				p.log.Info("sync works again")
			}
			dirty, failing, retryPause = false, false, p.cfg.RetryInterval
		}
	}
}
