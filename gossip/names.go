package gossip

import (
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// ErrNameInUse means another live agent already uses this agent's name at
// another address. It is found while joining: Join returns it, and the
// background joiner stops and reports it through Done and Err.
var ErrNameInUse = errors.New("gossip: node name already in use")

type nameInUseError struct{ name, addr string }

func (e *nameInUseError) Error() string {
	return fmt.Sprintf("node name %s is already used by %s; give this agent another --name", e.name, e.addr)
}

func (e *nameInUseError) Is(target error) bool { return target == ErrNameInUse }

// NotifyMerge runs on both sides of a join, with the members the other side
// knows. The joining agent refuses a cluster in which its name is alive at
// another address; a member refuses a joiner that brings a live member of
// its own under a name already alive here at another address. memberlist
// alone would only log the conflict and leave the joiner half-joined.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	c := d.c
	for _, p := range peers {
		if p.State != memberlist.StateAlive && p.State != memberlist.StateSuspect {
			continue
		}
		addr := nodeAddr(p)
		if p.Name == c.cfg.NodeName {
			if addr == c.addr {
				continue
			}
			var err error = &nameInUseError{name: p.Name, addr: addr}
			c.conflict.Store(&err)
			return err
		}
		if m, ok := c.members.get(p.Name); ok && m.State == StateAlive && m.Addr != addr {
			c.log.Warn("refused a join: it brings an agent whose name is already used here", "name", p.Name,
				"address", addr, "in_use_by", m.Addr)
			return &nameInUseError{name: p.Name, addr: m.Addr}
		}
	}
	return nil
}

// NotifyConflict is memberlist's report of two addresses for one name met
// in gossip; the later agent is refused when it joins, so only log it.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	c := d.c
	if ok, suppressed := c.limiter.allow("conflict/" + existing.Name); ok {
		c.log.Warn("two agents use one node name", "name", existing.Name, "known_at", nodeAddr(existing),
			"also_at", nodeAddr(other), "suppressed", suppressed)
	}
}
