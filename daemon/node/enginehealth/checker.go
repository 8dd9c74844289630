package enginehealth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Pinger is what the checker needs of the engine.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config sets how often and how patiently the engine is asked.
type Config struct {
	// Interval between two pings while the engine answers.
	Interval time.Duration
	// Timeout of one ping: an engine that accepts the connection and does
	// not answer within it has failed the check.
	Timeout time.Duration
	// Failures is how many pings in a row must fail before the engine is
	// declared down: one slow answer on a loaded host is not an outage.
	Failures int
}

// Defaults: an engine that stops answering is declared down within about
// Interval + Interval/2 + 2×Timeout (9 s), one that refuses connections (killed) within
// about Interval + Interval/2 (3 s).
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = 3 * time.Second
	DefaultFailures = 2
)

// Status is the checker's verdict.
type Status struct {
	// Healthy is false once Failures pings in a row have failed, true again
	// at the first ping answered.
	Healthy bool
	// Since is when Healthy last changed (or the checker started).
	Since time.Time
	// Err is the last failure while the engine is down.
	Err error
}

// Checker pings the engine until its context ends. It starts healthy: the
// agent answered an engine call before starting it.
type Checker struct {
	eng Pinger
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	status Status
	subs   map[chan struct{}]struct{}
}

// New makes a checker of eng; zero fields of cfg take the defaults.
func New(eng Pinger, cfg Config, log *slog.Logger) *Checker {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultFailures
	}
	return &Checker{eng: eng, cfg: cfg, log: log.With("component", "engine-health"),
		status: Status{Healthy: true, Since: time.Now()}, subs: map[chan struct{}]struct{}{}}
}

// Status returns the current verdict.
func (c *Checker) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Subscribe returns a channel that receives a value after every change of
// Healthy (coalesced: a slow reader sees at least the last change), and a
// function that ends the subscription.
func (c *Checker) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// Run pings the engine until ctx ends. After a failed ping the next comes
// sooner (half the interval), so that an outage is confirmed quickly.
func (c *Checker) Run(ctx context.Context) {
	failures := 0
	timer := time.NewTimer(c.cfg.Interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		err := c.eng.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		next := c.cfg.Interval
		if err != nil {
			failures++
			next = c.cfg.Interval / 2
			c.log.Debug("engine ping failed", "failures", failures, "err", err)
			if failures >= c.cfg.Failures {
				c.set(false, err)
			}
		} else {
			failures = 0
			c.set(true, nil)
		}
		timer.Reset(next)
	}
}

// set records a verdict and wakes the subscribers when Healthy changed.
func (c *Checker) set(healthy bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.status.Healthy != healthy
	prev := c.status.Since
	c.status.Err = err
	if !changed {
		return
	}
	now := time.Now()
	c.status.Healthy, c.status.Since = healthy, now
	if healthy {
		c.log.Info("the container engine answers again", "down_for", now.Sub(prev).Round(time.Millisecond))
	} else {
		c.log.Warn("the container engine does not answer; this node is not ready until it does", "err", err)
	}
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
