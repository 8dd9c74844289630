package membership

import (
	"sync"
	"time"
)

// Member is what the agent knows of one member.
type Member struct {
	Name  string
	Alive bool
	// Left: not alive because its agent left the cluster on purpose (it
	// stopped, most often to restart), not because it stopped answering.
	Left  bool
	Since time.Time // when it last became alive or stopped being alive
}

// Source is the agent's view of the members.
type Source interface {
	Members() []Member
	// Subscribe returns a channel signalled (without blocking) on every
	// membership change, and the function that ends the subscription.
	Subscribe() (<-chan struct{}, func())
}

// Fanout lets any number of watchers follow changes: Subscribe hands out
// channels, Notify signals them all without blocking.
type Fanout struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe adds a watcher.
func (f *Fanout) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[chan struct{}]struct{}{}
	}
	ch := make(chan struct{}, 1)
	f.subs[ch] = struct{}{}
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}

// Notify signals every watcher.
func (f *Fanout) Notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Static is a membership set by hand (tests, a standalone agent).
type Static struct {
	mu   sync.Mutex
	view []Member
	fan  Fanout
}

// Members returns the members set last.
func (s *Static) Members() []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Member(nil), s.view...)
}

// Subscribe follows changes.
func (s *Static) Subscribe() (<-chan struct{}, func()) { return s.fan.Subscribe() }

// Set replaces the members and tells the watchers.
func (s *Static) Set(view ...Member) {
	s.mu.Lock()
	s.view = view
	s.mu.Unlock()
	s.fan.Notify()
}
