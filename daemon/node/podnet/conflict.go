package podnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// ConditionPodCIDRConflict is the Node condition that is True while the node
// keeps a pod subnet a lower-named node claims too.
const ConditionPodCIDRConflict = "PodCIDRConflict"

// Event reasons of the conflict reports.
const (
	ReasonPodCIDRConflict = "PodCIDRConflict"
	ReasonPodCIDRResolved = "PodCIDRConflictResolved"
	ReasonPodCIDRMoved    = "PodCIDRChanged"
)

// Run watches Node objects and settles conflicts over this node's subnet as
// they appear (after a partition heals, or when two nodes started at once),
// and again every resync period, so that a node that kept a conflicting
// subnet because of its pods gives it up once they are gone. Call Claim
// first. It returns when ctx ends.
func (c *Claimer) Run(ctx context.Context) error {
	if c.Subnet() == nil {
		return errors.New("network: Run before Claim")
	}
	failing := false
	followNodes(ctx, c.cfg.Store, c.cfg.Resync, c.log, func(ctx context.Context, nodes map[string]*api.Node) {
		err := c.check(ctx, nodes)
		switch {
		case err != nil && !failing:
			c.log.Warn("checking the pod subnet claim failed", "err", err)
		case err != nil:
			c.log.Debug("checking the pod subnet claim failed again", "err", err)
		case failing:
			c.log.Info("checking the pod subnet claim works again")
		}
		failing = err != nil
	})
	return nil
}

func (c *Claimer) check(ctx context.Context, nodes map[string]*api.Node) error {
	self, ok := nodes[c.cfg.Node]
	if !ok {
		// Deleted by someone; its agent registers it again at restart.
		return nil
	}
	all := make([]*api.Node, 0, len(nodes))
	for _, n := range nodes {
		all = append(all, n)
	}
	c.mu.Lock()
	current := c.subnet
	c.mu.Unlock()
	_, err := c.settle(ctx, self, current, claimsOf(all, c.cfg.Node), true)
	return err
}

// report logs, records and sets the Node condition for a conflict the node
// keeps, and for its end; a move is recorded too. self is the Node as last
// seen, to skip writes that change nothing.
func (c *Claimer) report(ctx context.Context, self *api.Node, out outcome, moveErr error) {
	key := ""
	if len(out.keptFrom) > 0 {
		key = out.subnet.String() + " " + strings.Join(out.keptFrom, ",")
	}
	c.mu.Lock()
	changed := key != c.reported
	was := c.reported
	c.reported = key
	c.mu.Unlock()

	var cond *api.Condition
	switch {
	case key != "":
		why := fmt.Sprintf("node %s runs pods", c.cfg.Node)
		if moveErr != nil {
			why = fmt.Sprintf("moving node %s's pod network failed (%v)", c.cfg.Node, moveErr)
		}
		msg := fmt.Sprintf("pod subnet %s of node %s is also claimed by node %s, which keeps it (its name sorts lower), "+
			"but %s, so this node keeps it too: pods on these nodes may be unreachable from other hosts. "+
			"Fix: move the pods off node %s (cordon it and delete its pods); its agent then claims a free subnet by itself",
			out.subnet, c.cfg.Node, strings.Join(out.keptFrom, ", "), why, c.cfg.Node)
		cond = &api.Condition{Type: ConditionPodCIDRConflict, Status: api.ConditionTrue, Reason: "SubnetClaimedTwice", Message: msg}
		if changed {
			c.log.Error("pod subnet conflict", "subnet", out.subnet.String(), "node", c.cfg.Node,
				"also_claimed_by", out.keptFrom, "reason", why, "fix", "move the pods off node "+c.cfg.Node)
			c.event(self, api.EventWarning, ReasonPodCIDRConflict, "%s", msg)
		}
	case was != "" || hasConflictCondition(self):
		cond = &api.Condition{Type: ConditionPodCIDRConflict, Status: api.ConditionFalse, Reason: "SubnetClaimedOnce",
			Message: fmt.Sprintf("no other node claims pod subnet %s", out.subnet)}
		if changed {
			c.log.Info("pod subnet conflict resolved", "subnet", out.subnet.String())
			c.event(self, api.EventNormal, ReasonPodCIDRResolved, "no other node claims pod subnet %s any more", out.subnet)
		}
	}
	if out.moved {
		c.event(self, api.EventNormal, ReasonPodCIDRMoved, "pod subnet is now %s: the former one is claimed by a lower-named node", out.subnet)
	}
	if cond != nil && conditionDiffers(self, *cond) {
		if err := c.setCondition(ctx, *cond); err != nil {
			c.log.Warn("writing the node's pod subnet condition failed", "err", err)
		}
	}
}

func (c *Claimer) event(self *api.Node, typ, reason, format string, args ...any) {
	if c.cfg.Events != nil {
		c.cfg.Events.Eventf(self, typ, reason, format, args...)
	}
}

func hasConflictCondition(n *api.Node) bool {
	cond := api.FindCondition(n.Status.Conditions, ConditionPodCIDRConflict)
	return cond != nil && cond.Status == api.ConditionTrue
}

func conditionDiffers(n *api.Node, want api.Condition) bool {
	have := api.FindCondition(n.Status.Conditions, want.Type)
	return have == nil || have.Status != want.Status || have.Reason != want.Reason || have.Message != want.Message
}

// setCondition writes the condition into the Node's status, retrying when
// a concurrent status write got there first.
func (c *Claimer) setCondition(ctx context.Context, cond api.Condition) error {
	for attempt := 0; ; attempt++ {
		obj, err := c.cfg.Store.Get(ctx, api.KindNode, "", c.cfg.Node)
		if err != nil {
			return fmt.Errorf("read node %s: %w", c.cfg.Node, err)
		}
		n := obj.(*api.Node)
		n.Status.Conditions = slices.Clone(n.Status.Conditions)
		if !api.SetCondition(&n.Status.Conditions, cond) {
			return nil
		}
		_, err = c.cfg.Store.UpdateStatus(ctx, n)
		if err == nil {
			return nil
		}
		if !api.IsConflict(err) || attempt >= 5 {
			return fmt.Errorf("write status of node %s: %w", c.cfg.Node, err)
		}
	}
}
