package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/atrest"
	"github.com/shoal-dev/shoal/dns"
	"github.com/shoal-dev/shoal/gossip"
)

// gossipMembership adapts the gossip cluster to what node health, leadership
// and the members endpoint need.
type gossipMembership struct {
	cl *gossip.Cluster
}

func (g gossipMembership) members() []memberView {
	var out []memberView
	for _, m := range g.cl.Members() {
		out = append(out, memberView{Name: m.Name, Alive: m.State == gossip.StateAlive, Since: m.Since})
	}
	return out
}

func (g gossipMembership) subscribe() (<-chan struct{}, func()) { return g.cl.Subscribe() }

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
		out = append(out, api.Member{Name: m.Name, Address: m.Addr, APIAddress: m.APIAddr, State: state,
			Since: api.NewTime(m.Since), Version: m.Meta.Version})
	}
	return out
}

// startCluster joins the gossip cluster, encrypted with the cluster's
// keyring; the founding agent (no --join and nobody remembered) is synced
// at once. Records are pulled from the other agents' internal endpoints on
// their gossip ports, over mutual TLS.
func startCluster(ctx context.Context, cfg Config, st *gossip.Store, ci *clusterIdentity, log *slog.Logger) (*gossip.Cluster, error) {
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
	// Until pulls name members rather than addresses, the records are
	// pulled from the internal endpoints at the advertised gossip address.
	gossipAddr := advertise
	if gossipAddr == "" {
		_, port, _ := net.SplitHostPort(bind)
		gossipAddr = net.JoinHostPort(cfg.advertiseAddress(), port)
	}
	ci.metaAPIAddr = "https://" + gossipAddr
	cl, err := gossip.NewCluster(gossip.ClusterConfig{
		NodeName: cfg.Name, BindAddr: bind, AdvertiseAddr: advertise, Join: cfg.Join, DataDir: cfg.DataDir,
		Meta: ci.meta(ci.metaAPIAddr, kr), Keyring: kr,
		HTTPClient: peerClient(ci.live, "", 10*time.Second),
	}, st, log)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	if err := cl.Start(ctx); err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", bind, err)
	}
	return cl, nil
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
func agentRoutes(cfg Config, st *gossip.Store, sealer *atrest.Keyring, cl *gossip.Cluster, members memberLister, lead *leadership,
	dnsSrv *dns.Server) func(r *mux.Router) {
	return func(r *mux.Router) {
		membersRoute(cfg.Name, members, lead)(r)
		identityRoutes(st, cl)(r)
		storageRoutes(cfg.Name, st, sealer)(r)
		r.HandleFunc("/shoal/v1/agent", func(w http.ResponseWriter, _ *http.Request) {
			s := cl.Stats()
			info := map[string]any{
				"name": cfg.Name, "version": cfg.Version, "leader": lead.Leader(), "gossipAddress": cl.Addr(),
				"gossip": map[string]int64{
					"broadcastsQueued": s.BroadcastsQueued, "broadcastsSent": s.BroadcastsSent,
					"messagesReceived": s.MessagesReceived, "malformed": s.Malformed, "dropped": s.Dropped,
					"recordsApplied": s.RecordsApplied, "pulls": s.Pulls,
				},
				"dns": map[string]any{"addresses": dnsSrv.Addrs(), "stats": dnsSrv.Stats()},
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(info)
		}).Methods(http.MethodGet)
	}
}
