package election

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/membership"
)

// Election elects the leader the design asks for: the live member with the
// lowest name, once membership has been stable for a settle time. Every
// agent computes it from its own view; two agents may both lead for a
// moment (during a partition, say), which the controllers tolerate.
type Election struct {
	self   string
	mem    membership.Source
	settle time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	leader string
}

// New makes the election of the agent named self; settle is how long
// membership must be stable before anyone leads (none for an agent alone).
func New(self string, mem membership.Source, settle time.Duration, log *slog.Logger) *Election {
	return &Election{self: self, mem: mem, settle: settle, log: log}
}

// Leader returns the member this agent believes leads ("" while unsettled).
func (l *Election) Leader() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leader
}

// candidate is the lowest-named live member.
func (l *Election) candidate() string {
	var names []string
	for _, m := range l.mem.Members() {
		if m.Alive {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}

// run calls lead with a context that lives while this agent leads, and
// waits for lead to return before leading again, until ctx ends.
func (l *Election) Run(ctx context.Context, lead func(context.Context)) {
	changes, unsubscribe := l.mem.Subscribe()
	defer unsubscribe()
	var term *leaderTerm
	stop := func() {
		if term != nil {
			term.end()
			term = nil
			l.log.Info("stopped leading")
		}
	}
	defer stop()
	stable := time.Now()
	settled := time.NewTimer(l.settle)
	defer settled.Stop()
	for {
		if time.Since(stable) >= l.settle {
			c := l.candidate()
			l.mu.Lock()
			changed := c != l.leader
			l.leader = c
			l.mu.Unlock()
			if changed {
				l.log.Info("leader elected", "leader", c)
			}
			switch {
			case c == l.self && term == nil:
				l.log.Info("leading: starting controllers and scheduler")
				term = startTerm(ctx, lead)
			case c != l.self:
				stop()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
			stable = time.Now()
			settled.Reset(l.settle)
		case <-settled.C:
		}
	}
}

// leaderTerm is one period of leading: the leader loops run under its
// context and end with it.
type leaderTerm struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startTerm(ctx context.Context, lead func(context.Context)) *leaderTerm {
	lctx, cancel := context.WithCancel(ctx)
	t := &leaderTerm{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		lead(lctx)
	}()
	return t
}

// end stops the term's loops and waits for them.
func (t *leaderTerm) end() {
	t.cancel()
	<-t.done
}
