package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// Server is the cluster DNS server of one agent: it answers the cluster
// zone from memory and forwards every other name.
type Server struct {
	cfg    settings
	log    *slog.Logger
	obs    Observer // nil: nobody asked
	zopts  zoneOptions
	apexes map[string]bool
	zone   atomic.Pointer[zone]
	fwd    *forwarder
	stats  stats
	turn   atomic.Uint32 // rotates answers with several records
	policy *sourcePolicy // who may have other names resolved
	limit  *rateLimiter  // UDP responses per source; nil: none
	pool   *workPool     // answers UDP queries off the fast path

	// ctx ends at Shutdown; it bounds forwarding and every listener.
	ctx    context.Context
	cancel context.CancelFunc

	buildMu sync.Mutex // one zone published at a time

	mu        sync.Mutex
	closed    bool
	listeners map[*listener]struct{}
	wg        sync.WaitGroup
}

// New makes a server from cfg; it serves nothing until Listen or Serve, and
// answers cluster names only once Run (or SetSnapshot) gave it a state.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	st, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "dns")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       st,
		log:       log,
		zopts:     st.zoneOptions(),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[*listener]struct{}{},
	}
	s.apexes = s.zopts.apexes()
	s.fwd = newForwarder(st, &s.stats, log, s.isSelf)
	s.policy = newSourcePolicy(st.ClusterCIDR)
	// Pods are the cluster's own clients, and a busy pod must not lose
	// lookups; loopback cannot be spoofed from outside.
	s.limit = newRateLimiter(st.RateLimit, st.RateBurst, st.RateLimitSlip, st.RateLimitSources, func(a netip.Addr) bool {
		return a.IsLoopback() || (st.ClusterCIDR.IsValid() && st.ClusterCIDR.Masked().Contains(a))
	})
	s.pool = newWorkPool(st.Workers, st.QueueSize)
	if len(st.upstreams) == 0 {
		log.Warn("no upstream resolvers: names outside the cluster will fail", "resolv_conf", st.ResolvConf)
	}
	return s, nil
}

// Ready reports that the server answers cluster names.
func (s *Server) Ready() bool { return s.zone.Load() != nil }

// Upstreams lists the resolvers names outside the cluster go to.
func (s *Server) Upstreams() []string { return slices.Clone(s.cfg.upstreams) }

// SetSnapshot replaces the cluster state the server answers from, for
// callers that do not use Run. Use one or the other.
func (s *Server) SetSnapshot(snap Snapshot) {
	st := newState()
	for _, n := range snap.Nodes {
		st.applyNode(api.Added, n)
	}
	s.policy.setNodes(st.nodeAddrs())
	s.publish(reduceSnapshot(snap))
}

// publish builds the zone of objs and serves it, unless it answers every
// query as the zone served now does. It reports whether the zone changed.
func (s *Server) publish(objs objects) bool {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	z, err := s.build(objs)
	if err != nil {
		s.log.Error("building the dns zone failed; serving the previous one", "error", err)
		return false
	}
	old := s.zone.Load()
	if old != nil && old.equal(z) {
		s.stats.unchanged.Add(1)
		return false
	}
	serial := uint32(time.Now().Unix())
	if old != nil && serial <= old.serial {
		serial = old.serial + 1
	}
	z.publish(serial)
	s.zone.Store(z)
	s.stats.builds.Add(1)
	s.log.Debug("dns zone published", "records", z.size, "serial", serial)
	return true
}

// errBuildPanic marks a zone build that panicked.
var errBuildPanic = errors.New("dns: zone build panicked")

func (s *Server) build(objs objects) (z *zone, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.stats.panics.Add(1)
			z, err = nil, fmt.Errorf("%w: %v", errBuildPanic, v)
		}
	}()
	return buildZone(s.zopts, objs), nil
}

// listener is one address served over UDP and TCP.
type listener struct {
	addr     netip.AddrPort
	fast     *udpServer   // UDP
	tcp      *mdns.Server // TCP
	stopOnce sync.Once
	done     chan struct{}
}

// Listen serves UDP and TCP on addr ("10.244.1.1:53", "127.0.0.1:0") until
// ctx ends or the server shuts down. It returns once both are bound and
// serving, so addresses can be added at any time (a bridge gateway appears
// after its network is created).
func (s *Server) Listen(ctx context.Context, addr string) error {
	_, err := s.listen(ctx, addr)
	return err
}

func (s *Server) listen(ctx context.Context, addr string) (*listener, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrShutdown
	}
	s.wg.Add(1) // while counted, Shutdown waits for this listener too
	s.mu.Unlock()
	defer s.wg.Done()

	pc, ln, err := bind(addr)
	if err != nil {
		return nil, err
	}
	l := &listener{
		addr: netip.MustParseAddrPort(pc.LocalAddr().String()),
		done: make(chan struct{}),
	}
	// A TCP client gets a first query read within 2 s, then 8 s between
	// queries, 128 queries per connection, and a bounded share of the
	// connections.
	l.tcp = &mdns.Server{Listener: newLimitListener(ln, s.cfg.MaxTCPConns, s.cfg.MaxTCPConnsPerSource, &s.stats.tcpRejected),
		Handler: s, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		IdleTimeout:   func() time.Duration { return 8 * time.Second },
		MaxTCPQueries: 128, MsgAcceptFunc: s.accept, MsgInvalidFunc: s.invalid}
	servers := []*mdns.Server{l.tcp}
	fast, err := s.newUDPServer(pc.(*net.UDPConn))
	if err != nil {
		pc.Close()
		ln.Close()
		return nil, err
	}
	l.fast = fast
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		l.fast.serve()
	}()
	// Wait until miekg's servers serve: one shut down before it started
	// would start afterwards and never stop.
	started := make(chan error, 4)
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { started <- nil }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				started <- err
				s.log.Error("dns listener failed", "addr", l.addr.String(), "error", err)
			}
		}()
	}
	var startErr error
	for range servers {
		if err := <-started; err != nil {
			startErr = err
		}
	}
	s.mu.Lock()
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	if startErr != nil {
		s.stop(l)
		return nil, fmt.Errorf("dns: serve %s: %w", l.addr, startErr)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		s.stop(l)
	}()
	s.log.Info("dns listening", "addr", l.addr.String())
	return l, nil
}

// bind opens UDP and TCP on the same address; with port 0, on the same
// free port.
func bind(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 8 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = fmt.Errorf("dns: listen tcp %s: %w", pc.LocalAddr(), err)
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break // a fixed port: trying again finds it taken again
		}
	}
	return nil, nil, lastErr
}

// stop shuts one listener down and waits for its handlers; idempotent.
func (s *Server) stop(l *listener) {
	l.stopOnce.Do(func() {
		defer close(l.done)
		// Listed until its sockets are closed: an address Addrs no longer
		// lists can be bound again.
		defer func() {
			s.mu.Lock()
			delete(s.listeners, l)
			s.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if l.fast != nil {
			if err := l.fast.stop(ctx); err != nil {
				s.log.Warn("stopping a dns listener", "addr", l.addr.String(), "error", err)
			}
		}
		if err := l.tcp.ShutdownContext(ctx); err != nil {
			s.log.Warn("stopping a dns listener", "addr", l.addr.String(), "error", err)
		}
		s.log.Info("dns listener stopped", "addr", l.addr.String())
	})
	<-l.done
}

// Serve serves UDP and TCP on every address until ctx ends, then stops
// them. An address that cannot be bound stops the others and is returned.
func (s *Server) Serve(ctx context.Context, addrs ...string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ls []*listener
	defer func() {
		cancel()
		for _, l := range ls {
			s.stop(l)
		}
	}()
	for _, a := range addrs {
		l, err := s.listen(ctx, a)
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	return nil
}

// Addrs lists the addresses served now.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.listeners))
	for l := range s.listeners {
		out = append(out, l.addr.String())
	}
	slices.Sort(out)
	return out
}

// isSelf reports an upstream that is one of our own listeners, where
// forwarding would loop (a host whose resolv.conf names this server).
func (s *Server) isSelf(upstream string) bool {
	up, err := netip.ParseAddrPort(upstream)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		if l.addr == up || (l.addr.Addr().IsUnspecified() && l.addr.Port() == up.Port() && up.Addr().IsLoopback()) {
			return true
		}
	}
	return false
}

// Shutdown stops every listener and ends forwarding; Run and Serve return.
// It waits for the listeners until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()   // the listeners, which submit to the pool
		s.pool.wait() // then the workers
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dns: shutdown: %w", ctx.Err())
	}
}

func (s *Server) accept(h mdns.Header) mdns.MsgAcceptAction {
	a := mdns.DefaultMsgAcceptFunc(h)
	if a != mdns.MsgAccept {
		s.stats.rejected.Add(1)
		s.stats.rcode(rejectRcode(a))
	}
	return a
}

func rejectRcode(a mdns.MsgAcceptAction) int {
	switch a {
	case mdns.MsgReject:
		return mdns.RcodeFormatError
	case mdns.MsgRejectNotImplemented:
		return mdns.RcodeNotImplemented
	}
	return -1
}

func (s *Server) invalid(_ []byte, _ error) { s.stats.malformed.Add(1) }
