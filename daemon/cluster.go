package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/apiservice"

	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/leader/election"
	"github.com/shoal-dev/shoal/daemon/membership"
	"github.com/shoal-dev/shoal/registry/informer"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/trust/atrest"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/dns"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// gossipMembership adapts the gossip cluster to what node health, leadership
// and the members endpoint need.
type gossipMembership struct {
	cl        *gossip.Cluster
	maxOffset time.Duration // the agent's --max-clock-offset
}

func (g gossipMembership) Members() []membership.Member {
	var out []membership.Member
	for _, m := range g.cl.Members() {
		out = append(out, membership.Member{Name: m.Name, Alive: m.State == gossip.StateAlive,
			Left: m.State == gossip.StateLeft, Since: m.Since})
	}
	return out
}

func (g gossipMembership) Subscribe() (<-chan struct{}, func()) { return g.cl.Subscribe() }

// apiMembersOf lists the agents and their API URLs for the kubernetes
// Service's endpoints: membership's record, which only each agent writes
// for itself.
func apiMembersOf(cl *gossip.Cluster) []apiservice.Member {
	var out []apiservice.Member
	for _, m := range cl.Members() {
		out = append(out, apiservice.Member{Name: m.Name, APIURL: m.APIAddr, Alive: m.State == gossip.StateAlive})
	}
	return out
}

// reservedPorts are the ports agents listen on, which a LoadBalancer
// Service may not take on the nodes' addresses: every member's API and
// gossip ports (from membership), DNS, and this agent's ingress ports
// (agents of one cluster normally share their flags).
func reservedPorts(cfg Config, members []gossip.Member) []int32 {
	out := []int32{53}
	add := func(hostport string) {
		if u, err := url.Parse(hostport); err == nil && u.Host != "" {
			hostport = u.Host
		}
		if _, p, err := net.SplitHostPort(hostport); err == nil {
			if n, err := strconv.ParseUint(p, 10, 16); err == nil && n > 0 {
				out = append(out, int32(n))
			}
		}
	}
	for _, m := range members {
		add(m.Addr)
		add(m.APIAddr)
	}
	for _, a := range []string{cfg.APIAddr, cfg.IngressAddr, cfg.IngressTLSAddr, cfg.DNSAddr} {
		add(a)
	}
	return out
}

func (g gossipMembership) apiMembers() []api.Member {
	var out []api.Member
	for _, m := range g.cl.Members() {
		state := api.MemberAlive
		switch m.State {
		case gossip.StateDead:
			state = api.MemberDead
		case gossip.StateLeft:
			state = api.MemberLeft
		}
		am := api.Member{Name: m.Name, Address: m.Addr, APIAddress: m.APIAddr, State: state,
			Since: api.NewTime(m.Since), Version: m.Meta.Version, FutureWritesRefused: m.FutureRefused}
		if !m.Clock.At.IsZero() {
			am.Clock = &api.MemberClock{Offset: m.Clock.Offset.Round(100 * time.Microsecond).String(),
				Uncertainty: m.Clock.Uncertainty.Round(100 * time.Microsecond).String(),
				Measured:    api.NewTime(m.Clock.At), Skewed: m.Clock.Skewed(g.maxOffset)}
		}
		if !m.LastFutureRefused.IsZero() {
			am.LastFutureWriteRefused = api.NewTime(m.LastFutureRefused)
		}
		out = append(out, am)
	}
	return out
}

// recordValidators checks every record received from another agent before
// it is stored: objects (o/ spec, s/ status) as an API write is checked,
// the cluster records (x/) as the identity reads them. A node's status is
// accepted only from that node: no agent speaks for another (as Kubernetes'
// NodeRestriction). Records of any other prefix are refused.
func recordValidators(objs *registry.Registry) gossip.RecordValidators {
	v := objs.RecordValidators()
	status := v["s/"]
	v["s/"] = func(r *gossip.Record) error {
		if name, ok := strings.CutPrefix(r.Key, "s/nodes//"); ok && r.Version.Node != name {
			return fmt.Errorf("%w: the status of node %s written by %s: only a node writes its own status",
				gossip.ErrInvalidRecord, name, r.Version.Node)
		}
		return status(r)
	}
	v[identity.RecordPrefix] = func(r *gossip.Record) error {
		if err := identity.ValidateRecord(r.Key, r.Value, r.Deleted); err != nil {
			return fmt.Errorf("%w: %v", gossip.ErrInvalidRecord, err)
		}
		return nil
	}
	return v
}

// startCluster joins the gossip cluster, encrypted with the cluster's
// keyring; the founding agent (no --join and nobody remembered) is synced
// at once. Records are pulled from the other agents' internal endpoints on
// their gossip ports, over mutual TLS, and validated before they are stored.
func startCluster(ctx context.Context, cfg Config, st *gossip.Store, ci *clusterIdentity, validators gossip.RecordValidators,
	log *slog.Logger) (*gossip.Cluster, error) {
	bind := cfg.Bind
	advertise := cfg.Advertise
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err != nil {
			_, port, _ := net.SplitHostPort(bind)
			advertise = net.JoinHostPort(advertise, port)
		}
	}
	kr, err := memberlistKeyring(ci.keyring)
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	ci.metaAPIAddr = cfg.apiURL(cfg.advertiseAddress())
	cl, err := gossip.NewCluster(gossip.ClusterConfig{
		NodeName: cfg.Name, BindAddr: bind, AdvertiseAddr: advertise, Join: cfg.Join, DataDir: cfg.DataDir,
		Meta: ci.meta(ci.metaAPIAddr, kr), Keyring: kr,
		Fetcher:  peerFetcher(ci.live),
		Validate: validators.Validate,
	}, st, log)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	if err := cl.Start(ctx); err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", bind, err)
	}
	return cl, nil
}

// peerFetcher pulls records from a member's internal endpoints on its
// gossip port, over mutual TLS that accepts only that member's certificate.
func peerFetcher(live *identity.Live) gossip.Fetcher {
	var clients sync.Map // member name -> *http.Client
	return gossip.NewFetcher(
		func(p gossip.Peer) string { return "https://" + p.Addr },
		func(p gossip.Peer) *http.Client {
			if c, ok := clients.Load(p.Name); ok {
				return c.(*http.Client)
			}
			c, _ := clients.LoadOrStore(p.Name, peerClient(live, p.Name, 10*time.Second))
			return c.(*http.Client)
		})
}

// waitSynced holds the pod runner back until this agent has caught up with
// the cluster, so that it does not restart pods deleted while it was away.
// It gives up after a while: an agent alone must still run its pods.
func waitSynced(ctx context.Context, cl *gossip.Cluster, log *slog.Logger, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-cl.Synced():
		return nil
	case <-cl.Done():
		return cl.Err()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		log.Warn("no peer answered yet; starting pods from the local state", "waited", limit)
		return nil
	}
}

// agentRoutes serves the members list, this agent's info and the
// cluster-identity endpoints. (The other agents' record pulls are served on
// the gossip port, over mutual TLS: see internal.go.)
func agentRoutes(cfg Config, st *gossip.Store, sealer *atrest.Keyring, cl *gossip.Cluster, members memberLister, lead *election.Election,
	dnsSrv *dns.Server, reg *registry.Registry, inf *informer.Informer, apiWatches func() server.WatchStats) []server.Route {
	routes := []server.Route{membersRoute(cfg.Name, members, lead)}
	routes = append(routes, identityRoutes(st, cl)...)
	routes = append(routes, storageRoutes(cfg.Name, st, sealer)...)
	routes = append(routes, backupRoutes(cfg, st, sealer, reg)...)
	return append(routes, server.Route{Method: http.MethodGet, Path: "/shoal/v1/agent", Handler: func(w http.ResponseWriter, _ *http.Request) {
		s := cl.Stats()
		records, hash := cl.StateDigest()
		info := map[string]any{
			"name": cfg.Name, "version": cfg.Version, "leader": lead.Leader(), "gossipAddress": cl.Addr(),
			"gossip": map[string]int64{
				"broadcastsQueued": s.BroadcastsQueued, "broadcastsSent": s.BroadcastsSent,
				"messagesReceived": s.MessagesReceived, "malformed": s.Malformed, "dropped": s.Dropped,
				"refused": s.Refused, "unknownSenders": s.UnknownSenders,
				"recordsApplied": s.RecordsApplied, "pulls": s.Pulls, "pullErrors": s.PullErrors,
				"recordsPulled": s.RecordsPulled, "syncRounds": s.SyncRounds, "queued": s.Queued,
				"packetBytesSent": s.PacketBytesSent, "streamBytesIn": s.StreamBytesIn, "streamBytesOut": s.StreamBytesOut,
			},
			// Agents holding the same records show the same state.
			"state":    map[string]any{"records": records, "hash": strconv.FormatUint(hash, 16)},
			"dns":      map[string]any{"addresses": dnsSrv.Addrs(), "stats": dnsSrv.Stats()},
			"informer": inf.Stats(),
			"watches":  watchStats(st, reg, apiWatches()),
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	}})
}

// watchStats tells how the agent's watches fare: the store's subscriptions
// (the informer's and the API's), and the API's watches closed because
// their client stopped reading or fell behind.
func watchStats(st *gossip.Store, reg *registry.Registry, api server.WatchStats) map[string]any {
	ws := st.WatchStats()
	return map[string]any{
		"subscriptions": ws.Subscriptions, "subscriptionsOverflowed": ws.Overflows,
		"historyBytes": st.HistoryBytes(),
		"apiOpen":      api.Open, "apiCutSlow": api.Cut, "apiExpired": api.Expired,
		"byResource": reg.WatchStats(),
	}
}
