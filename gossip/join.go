package gossip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runJoiner joins the cluster and keeps it whole. While this agent has no
// live peer it tries the --join addresses and every remembered peer each
// joinRetry; once it has peers it tries, every rejoin interval, the
// remembered peers that are not live members (the other half of a
// partition that memberlist gave up on). It stops on ErrNameInUse.
func (c *Cluster) runJoiner(ctx context.Context) {
	changes, unsubscribe := c.members.subscribe()
	defer unsubscribe()
	var last time.Time // of the last attempt
	failures := 0
	first := true
	for {
		targets, alone := c.joinTargets()
		if first && alone && len(targets) == 0 && !c.store.Rebuilding() {
			c.markSynced() // a founding agent: nobody to catch up with
		}
		first = false
		wait := c.tm.rejoin
		if alone {
			wait = c.tm.joinRetry
		}
		if len(targets) > 0 && time.Since(last) >= wait {
			last = time.Now()
			n, err := c.join(targets)
			switch {
			case errors.Is(err, ErrNameInUse):
				c.fail(err)
				return
			case n > 0:
				if failures > 0 || alone {
					c.log.Info("joined the cluster", "via", n, "tried", strings.Join(targets, ", "), "members", c.members.numAlive())
				}
				failures = 0
				c.limiter.reset("join")
			case alone:
				failures++
				if ok, suppressed := c.limiter.allow("join"); ok {
					c.log.Warn(fmt.Sprintf("join: no peer answered (tried %s); retrying in %s", strings.Join(targets, ", "), wait),
						"attempts", failures, "err", err, "suppressed", suppressed)
				}
			default:
				c.log.Debug("rejoin: no remembered peer answered", "tried", targets, "err", err)
			}
		}
		timer := time.NewTimer(joinerDelay(len(targets) > 0, last, wait, time.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changes: // re-evaluate: maybe alone now
		case <-timer.C:
		}
		timer.Stop()
	}
}

// joinerDelay is how long the joiner waits before it looks again (a
// membership change wakes it sooner). With something to try, until wait
// has passed since the last attempt; with nothing, a whole wait: timing
// from the last attempt then (long past, or never) would make the loop
// spin, recomputing its targets every millisecond on every agent.
func joinerDelay(haveTargets bool, last time.Time, wait time.Duration, now time.Time) time.Duration {
	if !haveTargets {
		return wait
	}
	return max(last.Add(wait).Sub(now), 0) + time.Millisecond
}

// joinTargets returns the addresses to try, and whether this agent has no
// live peer. The --join addresses count only while alone: once joined,
// the remembered peers (their real names and addresses) take over.
func (c *Cluster) joinTargets() ([]string, bool) {
	peers := c.members.peers()
	names, addrs := map[string]bool{}, map[string]bool{c.addr: true}
	for _, p := range peers {
		names[p.Name], addrs[p.Addr] = true, true
	}
	var out []string
	add := func(a string) {
		if !addrs[a] {
			addrs[a] = true
			out = append(out, a)
		}
	}
	alone := len(peers) == 0
	if alone {
		for _, a := range c.cfg.Join {
			add(a)
		}
	}
	for _, p := range c.book.peers() {
		if p.Name != c.cfg.NodeName && !names[p.Name] {
			add(p.Addr)
		}
	}
	return out, alone
}

// Join tries the addresses in parallel and returns how many answered. It
// returns an error wrapping ErrNameInUse if this agent's name is alive in
// that cluster at another address, and the joins' errors if none answered.
func (c *Cluster) Join(addrs ...string) (int, error) {
	if c.ml == nil {
		return 0, errors.New("gossip: join before Start")
	}
	return c.join(addrs)
}

func (c *Cluster) join(addrs []string) (int, error) {
	c.conflict.Store(nil)
	var (
		wg   sync.WaitGroup
		ok   atomic.Int32
		mu   sync.Mutex
		errs []error
	)
	for _, a := range addrs {
		wg.Go(func() {
			if _, err := c.ml.Join([]string{a}); err != nil {
				c.stats.joinFailures.Add(1)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			// Counted as each answers: one slow peer does not hide a
			// join that already made this agent a member.
			c.stats.joins.Add(1)
			ok.Add(1)
		})
	}
	wg.Wait()
	if p := c.conflict.Load(); p != nil {
		return 0, *p
	}
	n := int(ok.Load())
	if n == 0 && len(addrs) > 0 {
		return 0, fmt.Errorf("gossip: join: %w", errors.Join(errs...))
	}
	return n, nil
}
