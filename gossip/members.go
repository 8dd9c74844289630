package gossip

import (
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberState is a member's state as this agent sees it.
//
// memberlist does not report suspicion to its delegates (a suspected member
// stays alive to them until the suspicion timeout declares it dead), so
// there is no Suspect state here.
type MemberState int

const (
	// StateAlive: the member answers (or is suspected, not yet declared dead).
	StateAlive MemberState = iota
	// StateDead: memberlist declared the member failed.
	StateDead
	// StateLeft: the member left gracefully (Leave).
	StateLeft
)

func (s MemberState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// Member is one agent of the cluster.
type Member struct {
	Name string
	// Addr is the gossip address, host:port.
	Addr string
	// APIAddr is the URL of the agent's API.
	APIAddr string
	State   MemberState
	// Since is when this agent saw the member enter its state.
	Since time.Time
	Meta  NodeMeta
	// Clock is the member's clock as last measured from this agent.
	Clock ClockReading
	// FutureRefused counts the member's writes refused because they were
	// stamped beyond this agent's clock plus the maximum offset, and
	// LastFutureRefused is when the last one was.
	FutureRefused     int64
	LastFutureRefused time.Time

	ip      net.IP
	port    uint16
	leaving bool
}

// membership is the table of members kept from memberlist's events, so
// that readers never touch memberlist's own node structs (which memberlist
// mutates under its lock), and the subscriptions to its changes.
type membership struct {
	self string
	now  func() time.Time

	mu      sync.Mutex
	members map[string]*Member
	stable  time.Time
	subs    map[chan struct{}]struct{}
	alive   int // alive members other than self
}

func newMembership(self string) *membership {
	return &membership{self: self, now: time.Now, members: map[string]*Member{}, subs: map[chan struct{}]struct{}{}, stable: time.Now()}
}

func nodeAddr(n *memberlist.Node) string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// update records memberlist's view of n (state is Alive for joins and
// updates, Dead for leaves). memberlist calls the event delegate under its
// node lock, so this copies and never blocks.
func (ms *membership) update(n *memberlist.Node, state MemberState, meta NodeMeta, leaving bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, known := ms.members[n.Name]
	if !known {
		m = &Member{Name: n.Name}
		ms.members[n.Name] = m
	}
	if state == StateAlive {
		m.leaving = leaving
	} else if leaving || m.leaving {
		state = StateLeft
	}
	if !known || m.State != state {
		if n.Name != ms.self {
			if known && m.State == StateAlive {
				ms.alive--
			}
			if state == StateAlive {
				ms.alive++
			}
		}
		m.State = state
		m.Since = ms.now()
		ms.stable = m.Since
	}
	m.Addr, m.ip, m.port = nodeAddr(n), slices.Clone(n.Addr), n.Port
	m.Meta, m.APIAddr = meta, meta.APIAddr
	ms.notifyLocked()
}

func (ms *membership) notifyLocked() {
	for ch := range ms.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// list returns copies of every member, sorted by name.
func (ms *membership) list() []Member {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([]Member, 0, len(ms.members))
	for _, m := range ms.members {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmpString(a.Name, b.Name) })
	return out
}

// peers returns the alive members other than self.
func (ms *membership) peers() []Member {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([]Member, 0, ms.alive)
	for _, m := range ms.members {
		if m.State == StateAlive && m.Name != ms.self {
			out = append(out, *m)
		}
	}
	return out
}

// livePeer returns the live member named name (other than self) as a
// Peer to pull from.
func (ms *membership) livePeer(name string) (Peer, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.members[name]
	if !ok || m.State != StateAlive || name == ms.self {
		return Peer{}, false
	}
	return Peer{Name: m.Name, Addr: m.Addr, APIAddr: m.APIAddr}, true
}

func (ms *membership) get(name string) (Member, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.members[name]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// numAlive counts the alive members, self included.
func (ms *membership) numAlive() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.alive + 1
}

func (ms *membership) stableSince() time.Time {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.stable
}

func (ms *membership) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	ms.mu.Lock()
	ms.subs[ch] = struct{}{}
	ms.mu.Unlock()
	return ch, func() {
		ms.mu.Lock()
		delete(ms.subs, ch)
		ms.mu.Unlock()
	}
}
