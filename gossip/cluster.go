package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// How the pieces fit (one file each):
//
//	membership   members.go, delegate.go (memberlist's events), meta.go,
//	             names.go (duplicate names), join.go (join, rejoin),
//	             peers.go (peers.json, last contact), transport.go
//	gossip       broadcast.go (queue and push), wire.go (messages),
//	             apply.go (received records), pull.go (announced records,
//	             bounded answers)
//	anti-entropy summary.go (push/pull state), antientropy.go (compare,
//	             pull, forget), httpwire.go, handler.go, fetch.go (HTTP)
//	trust        validate.go (every received record is checked: structure
//	             here, meaning by ClusterConfig.Validate), clock.go (the
//	             clock bound); the agent's validator of objects is in
//	             objects_validate.go, beside the registry (objects.go,
//	             watch.go)
//
// Goroutines, all started by Start and ended by Shutdown (or Start's
// context): the applier, pullWorkers pullers, the anti-entropy worker, the
// pusher, bookkeeping (peers file) and the joiner. memberlist's callbacks
// only decode, copy and queue for them.

// Cluster is this agent's membership in the cluster and the replication of
// its Store: every local write is gossiped at once, incoming records are
// merged, and push/pull anti-entropy repairs whatever gossip missed.
type Cluster struct {
	cfg   ClusterConfig
	tm    timings
	store *Store
	log   *slog.Logger
	fetch Fetcher
	meta  atomic.Pointer[[]byte]
	// metaVal is the metadata meta encodes (Leave re-encodes it).
	metaVal atomic.Pointer[NodeMeta]

	members *membership
	stats   counters
	limiter *logLimiter
	queue   *memberlist.TransmitLimitedQueue
	inbound *inbox
	pulls   *puller
	states  *stateQueue
	pushes  chan push
	book    *peerBook
	state   stateCache

	ml        *memberlist.Memberlist
	transport *transport
	addr      string

	running  atomic.Bool
	conflict atomic.Pointer[error] // ErrNameInUse seen while joining

	synced     chan struct{}
	syncedOnce sync.Once
	done       chan struct{}
	failOnce   sync.Once
	failErr    error

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewCluster checks the configuration; Start joins.
func NewCluster(cfg ClusterConfig, store *Store, log *slog.Logger) (*Cluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.NodeName == "":
		return nil, errors.New("gossip: a node name is required")
	case store == nil:
		return nil, errors.New("gossip: a store is required")
	case store.Node() != cfg.NodeName:
		return nil, fmt.Errorf("gossip: the store writes as %q, the cluster member is %q", store.Node(), cfg.NodeName)
	case cfg.Meta.APIAddr == "":
		return nil, errors.New("gossip: Meta.APIAddr is required: other agents pull records from it")
	case cfg.Validate == nil:
		return nil, errors.New("gossip: Validate is required: every record received is checked before it is stored")
	}
	if err := checkNodeName(cfg.NodeName); err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	if _, _, err := splitHostPort(cfg.BindAddr); err != nil {
		return nil, fmt.Errorf("gossip: bind address: %w", err)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	tm := cfg.Profile.timings()
	switch {
	case cfg.Fanout < 0:
		tm.fanout = 0
	case cfg.Fanout > 0:
		tm.fanout = cfg.Fanout
	}
	c := &Cluster{cfg: cfg, tm: tm, store: store, log: log.With("component", "gossip"),
		members: newMembership(cfg.NodeName), limiter: newLogLimiter(tm.logEvery),
		inbound: newInbox(maxInbound), pulls: newPuller(), states: newStateQueue(),
		pushes: make(chan push, 1024), synced: make(chan struct{}), done: make(chan struct{})}
	meta, err := encodeMeta(cfg.Meta, false)
	if err != nil {
		return nil, err
	}
	c.meta.Store(&meta)
	mv := cfg.Meta
	c.metaVal.Store(&mv)
	c.fetch = cfg.Fetcher
	if c.fetch == nil {
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: tm.pullTimeout}
		}
		c.fetch = NewHTTPFetcher(client)
	}
	c.queue = &memberlist.TransmitLimitedQueue{NumNodes: c.members.numAlive, RetransmitMult: cfg.Profile.memberlistConfig().RetransmitMult}
	store.OnLocalWrite(c.onLocalWrite)
	return c, nil
}

// Start listens for gossip and starts the background work: joining (which
// retries until a peer answers, never blocking Start), gossip, pulls and
// anti-entropy. The background work ends with ctx or Shutdown; Shutdown
// (after Leave, for a graceful exit) must be called in any case to close
// the sockets. A fatal problem found later (ErrNameInUse) is reported by
// Done and Err.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("gossip: cluster already started")
	}
	c.started = true
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel

	book, err := loadPeerBook(c.cfg.DataDir)
	if err != nil {
		c.log.Warn("ignoring unreadable peers file; starting without remembered peers", "err", err)
	}
	c.book = book
	c.warnIfLongAbsent()

	mlLog := newMemberlistLogger(c.log)
	tr, err := newTransport(ctx, c.cfg.BindAddr, c.cfg.Partition, &c.stats, mlLog)
	if err != nil {
		cancel()
		return err
	}
	conf := c.cfg.Profile.memberlistConfig()
	conf.Name = c.cfg.NodeName
	conf.Transport = tr
	conf.Label = memberlistLabel
	if c.cfg.Keyring != nil {
		// Every packet and stream is encrypted and authenticated, both
		// ways, from the first message: a cluster is born encrypted.
		conf.Keyring = c.cfg.Keyring
		conf.GossipVerifyIncoming, conf.GossipVerifyOutgoing = true, true
	}
	conf.Logger = mlLog
	conf.EnableCompression = c.cfg.Compression
	conf.BindAddr, conf.BindPort = tr.host, tr.port
	host, port, err := advertise(c.cfg.AdvertiseAddr, tr.port)
	if err == nil {
		// Resolved before memberlist starts: its delegates read c.addr.
		var ip net.IP
		ip, port, err = tr.FinalAdvertiseAddr(host, port)
		host = ip.String()
	}
	if err != nil {
		tr.Shutdown()
		cancel()
		return fmt.Errorf("gossip: advertise address: %w", err)
	}
	conf.AdvertiseAddr, conf.AdvertisePort = host, port
	c.addr = net.JoinHostPort(host, strconv.Itoa(port))
	d := &delegate{c: c}
	conf.Delegate, conf.Events, conf.Merge, conf.Conflict = d, d, d, d
	conf.Ping = pingDelegate{c: c}
	c.running.Store(true)
	ml, err := memberlist.Create(conf)
	if err != nil {
		c.running.Store(false)
		tr.Shutdown()
		cancel()
		return fmt.Errorf("gossip: listen on %s: %w", c.cfg.BindAddr, err)
	}
	c.ml, c.transport = ml, tr

	c.run(ctx, c.runApplier)
	for range pullWorkers {
		c.run(ctx, c.runPuller)
	}
	c.run(ctx, c.runAntiEntropy)
	c.run(ctx, c.runPusher)
	c.run(ctx, c.runBookkeeping)
	c.run(ctx, c.runJoiner)
	c.log.Info("gossip listening", "address", c.addr, "profile", c.cfg.Profile.String(), "join", c.cfg.Join)
	return nil
}

func (c *Cluster) run(ctx context.Context, fn func(context.Context)) {
	c.wg.Go(func() { fn(ctx) })
}

// LocalNode returns this agent's name.
func (c *Cluster) LocalNode() string { return c.cfg.NodeName }

// Addr returns the advertised gossip address (after Start).
func (c *Cluster) Addr() string { return c.addr }

// Members returns every member known, self included, sorted by name.
func (c *Cluster) Members() []Member { return c.members.list() }

// Subscribe returns a channel signalled (without blocking, coalesced) on
// every membership change, and the function that ends the subscription.
func (c *Cluster) Subscribe() (<-chan struct{}, func()) { return c.members.subscribe() }

// StableSince returns when a member last joined or changed state: the
// leader election waits until membership has been stable for a while.
func (c *Cluster) StableSince() time.Time { return c.members.stableSince() }

// Stats returns the replication counters.
func (c *Cluster) Stats() Stats {
	s := c.stats.snapshot()
	s.Queued = int64(c.queue.NumQueued())
	return s
}

// Synced is closed once this agent has completed an anti-entropy exchange
// with a peer, or at once when it has no peer to join (a founding agent).
// Until then its store may miss writes, or hold records others deleted.
func (c *Cluster) Synced() <-chan struct{} { return c.synced }

func (c *Cluster) markSynced() { c.syncedOnce.Do(func() { close(c.synced) }) }

// Done is closed when the cluster stopped by itself on a fatal problem;
// Err says which (ErrNameInUse).
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Err returns the fatal problem that closed Done, or nil.
func (c *Cluster) Err() error {
	select {
	case <-c.done:
		return c.failErr
	default:
		return nil
	}
}

func (c *Cluster) fail(err error) {
	c.failOnce.Do(func() {
		c.log.Error("gossip stopped", "err", err)
		c.failErr = err
		close(c.done)
	})
}

// LastContact returns when this agent last had another live member, as
// remembered in DataDir (zero if never).
func (c *Cluster) LastContact() time.Time {
	if c.book == nil {
		return time.Time{}
	}
	return c.book.lastContact()
}

func (c *Cluster) warnIfLongAbsent() {
	last := c.book.lastContact()
	if away := time.Since(last); !last.IsZero() && away > c.cfg.Retention {
		c.log.Warn("this agent was out of contact with the cluster for longer than the tombstone retention; "+
			"records deleted elsewhere meanwhile are forgotten at the first exchange with a peer, never copied back",
			"away", away.Round(time.Second).String(), "retention", c.cfg.Retention.String())
	}
}

// Keyring returns the gossip keyring (nil if gossip is not encrypted);
// memberlist's keyring is safe to change while the cluster runs.
func (c *Cluster) Keyring() *memberlist.Keyring { return c.cfg.Keyring }

// UpdateMeta replaces what this agent tells the others about itself and
// spreads it, waiting at most timeout.
func (c *Cluster) UpdateMeta(m NodeMeta, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	meta, err := encodeMeta(m, false)
	if err != nil {
		return err
	}
	c.metaVal.Store(&m)
	c.meta.Store(&meta)
	if c.ml == nil || c.stopped {
		return nil
	}
	if err := c.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("gossip: update metadata: %w", err)
	}
	return nil
}

// Leave tells the others this agent is leaving (so they report it left,
// not dead) and leaves, waiting at most timeout.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ml == nil || c.stopped {
		return nil
	}
	meta, err := encodeMeta(*c.metaVal.Load(), true)
	if err != nil {
		return err
	}
	c.meta.Store(&meta)
	if err := c.ml.UpdateNode(timeout / 2); err != nil {
		c.log.Debug("announcing leave", "err", err)
	}
	if err := c.ml.Leave(timeout / 2); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Shutdown stops the background work and memberlist, without telling the
// others (call Leave first for a graceful exit), and saves the peers file.
func (c *Cluster) Shutdown() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started || c.stopped {
		return nil
	}
	c.stopped = true
	c.running.Store(false)
	c.cancel()
	c.wg.Wait()
	err := c.ml.Shutdown() // shuts the transport down too
	c.saveBook(time.Now())
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}
