package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/events"
)

// ClaimStore is what claiming needs of the object store.
type ClaimStore interface {
	NodeSource
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
}

// ClaimConfig configures a Claimer.
type ClaimConfig struct {
	Store ClaimStore
	// Node is this node's name.
	Node        string
	ClusterCIDR *net.IPNet
	// DataDir is the agent's data directory; the claim is kept in
	// DataDir/pod-cidr.
	DataDir string
	// RunsPods reports whether this node has pods on its pod network: a
	// node that has never gives its subnet up. nil counts as yes.
	RunsPods func(ctx context.Context) (bool, error)
	// Move is called by Run when the node gives its subnet up while it
	// runs: it must re-point the pod network at the new subnet (EnsureBridge,
	// Firewall.EnsureRules, then whatever serves on the old gateway, such as
	// DNS). If it fails, the node keeps
	// its subnet and the conflict is reported. nil: the node never moves
	// while running.
	Move func(ctx context.Context, subnet *net.IPNet) error
	// Events, if set, receives the conflict reports.
	Events events.Sink
	Log    *slog.Logger
	// Resync is how often Run checks even without changes; 0 means
	// DefaultResync.
	Resync time.Duration
}

// Claimer claims and keeps this node's pod subnet (package doc).
type Claimer struct {
	cfg     ClaimConfig
	cluster netip.Prefix
	log     *slog.Logger

	mu          sync.Mutex
	subnet      netip.Prefix
	reported    string          // the conflict last reported; "" for none
	moveFailing bool            // the last move failed
	contested   map[string]bool // higher-named nodes already warned about
}

// NewClaimer checks the configuration.
func NewClaimer(cfg ClaimConfig) (*Claimer, error) {
	cluster, err := clusterPrefix(cfg.ClusterCIDR)
	if err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Node == "" || cfg.DataDir == "" {
		return nil, errors.New("network: a claimer needs a store, a node name and a data directory")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	return &Claimer{cfg: cfg, cluster: cluster, contested: map[string]bool{},
		log: cfg.Log.With("component", "pod-network", "cluster_cidr", cluster.String())}, nil
}

// Subnet returns the node's current claim, nil before Claim.
func (c *Claimer) Subnet() *net.IPNet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.subnet.IsValid() {
		return nil
	}
	return ipNet(c.subnet)
}

// Claim settles the node's subnet at start, once the agent has caught up
// with the cluster and registered its Node: the saved claim, re-claimed if a
// lower-named node claims it too and this node runs no pods, or the lowest
// free /24. It is saved and published before it is returned.
func (c *Claimer) Claim(ctx context.Context) (*net.IPNet, error) {
	obj, err := c.cfg.Store.Get(ctx, api.KindNode, "", c.cfg.Node)
	if api.IsNotFound(err) {
		return nil, fmt.Errorf("claim a pod subnet for node %s: %w", c.cfg.Node, ErrNodeNotRegistered)
	}
	if err != nil {
		return nil, fmt.Errorf("claim a pod subnet: read node %s: %w", c.cfg.Node, err)
	}
	self := obj.(*api.Node)
	list, _, err := c.cfg.Store.List(ctx, api.KindNode, "", nil)
	if err != nil {
		return nil, fmt.Errorf("claim a pod subnet: list nodes: %w", err)
	}
	var nodes []*api.Node
	for _, o := range list {
		nodes = append(nodes, o.(*api.Node))
	}
	current, err := c.savedClaim(self)
	if err != nil {
		return nil, err
	}
	subnet, err := c.settle(ctx, self, current, claimsOf(nodes, c.cfg.Node), false)
	if err != nil {
		return nil, err
	}
	return ipNet(subnet), nil
}

// savedClaim is the claim of an earlier start: the file's, else the Node's.
// The file wins: it is written first and is what this host's bridge uses.
func (c *Claimer) savedClaim(self *api.Node) (netip.Prefix, error) {
	saved, err := readClaimFile(c.cfg.DataDir)
	if err != nil {
		return netip.Prefix{}, err
	}
	var fromFile, fromNode netip.Prefix
	if saved != "" {
		if fromFile, err = parseSubnet(saved, c.cluster); err != nil {
			c.log.Warn("ignoring the saved pod subnet", "file", ClaimFile, "err", err)
		}
	}
	if self.Spec.PodCIDR != "" {
		if fromNode, err = parseSubnet(self.Spec.PodCIDR, c.cluster); err != nil {
			c.log.Warn("ignoring the node's spec.podCIDR", "err", err)
		}
	}
	switch {
	case fromFile.IsValid() && fromNode.IsValid() && fromFile != fromNode:
		c.log.Warn("the node's spec.podCIDR differs from the saved claim; keeping the saved one",
			"spec", fromNode.String(), "saved", fromFile.String())
		return fromFile, nil
	case fromFile.IsValid():
		return fromFile, nil
	default:
		return fromNode, nil
	}
}

// settle applies the claiming rule to current, moves if the rule says so
// (through Move when running), saves and publishes the result and reports
// a conflict it keeps.
func (c *Claimer) settle(ctx context.Context, self *api.Node, current netip.Prefix, others []nodeClaim, running bool) (netip.Prefix, error) {
	out, err := resolve(c.cfg.Node, c.cluster, current, others, func() (bool, error) { return c.runsPods(ctx) })
	if err != nil {
		return current, err
	}
	var moveErr error
	switch {
	case !current.IsValid():
		c.log.Info("claimed a pod subnet", "subnet", out.subnet.String())
	case out.moved:
		keepers := owners(others, current, c.cfg.Node)
		if running {
			moveErr = c.move(ctx, out.subnet)
		}
		c.mu.Lock()
		failedBefore := c.moveFailing
		c.moveFailing = moveErr != nil
		c.mu.Unlock()
		switch {
		case moveErr == nil:
			c.log.Warn("gave up a pod subnet a lower-named node claims too", "subnet", current.String(),
				"owner", keepers, "new_subnet", out.subnet.String())
		case !failedBefore:
			c.log.Warn("could not give up a pod subnet a lower-named node claims too; keeping it", "subnet", current.String(),
				"owner", keepers, "new_subnet", out.subnet.String(), "err", moveErr)
		default:
			c.log.Debug("moving the pod network failed again", "err", moveErr)
		}
		if moveErr != nil {
			out = outcome{subnet: current, keptFrom: keepers}
		}
	}
	if err := c.persist(ctx, out.subnet); err != nil {
		return current, err
	}
	c.mu.Lock()
	c.subnet = out.subnet
	c.mu.Unlock()
	c.warnContested(out)
	c.report(ctx, self, out, moveErr)
	return out.subnet, nil
}

func (c *Claimer) runsPods(ctx context.Context) (bool, error) {
	if c.cfg.RunsPods == nil {
		return true, nil
	}
	return c.cfg.RunsPods(ctx)
}

func (c *Claimer) move(ctx context.Context, subnet netip.Prefix) error {
	if c.cfg.Move == nil {
		return errors.New("this agent cannot move its pod network while it runs; restart it")
	}
	if err := c.cfg.Move(ctx, ipNet(subnet)); err != nil {
		return fmt.Errorf("moving the pod network to %s: %w", subnet, err)
	}
	return nil
}

// owners names the nodes that keep subnet over self: those whose claims
// overlap it and whose names sort lower.
func owners(claims []nodeClaim, subnet netip.Prefix, self string) []string {
	var names []string
	for _, cl := range claims {
		if cl.subnet.Overlaps(subnet) && cl.node < self {
			names = append(names, cl.node)
		}
	}
	return names
}

// warnContested logs, once per node, higher-named nodes claiming this
// node's subnet: they are the ones to move.
func (c *Claimer) warnContested(out outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range out.contested {
		if !c.contested[n+"/"+out.subnet.String()] {
			c.contested[n+"/"+out.subnet.String()] = true
			c.log.Warn("another node claims this node's pod subnet; it must give it up (this node's name sorts lower)",
				"subnet", out.subnet.String(), "other", n)
		}
	}
}
