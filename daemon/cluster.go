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

// recordValidators checks every record received from another agent before
// it is stored: objects (o/ spec, s/ status) as an API write is checked.
// Records of any other prefix are refused until a validator for it is
// registered here.
func recordValidators(objs *gossip.Objects) gossip.RecordValidators {
	return objs.RecordValidators()
}

// startCluster joins the gossip cluster; the founding agent (no --join and
// nobody remembered) is synced at once.
func startCluster(ctx context.Context, cfg Config, st *gossip.Store, apiURL string, validators gossip.RecordValidators,
	log *slog.Logger) (*gossip.Cluster, error) {
	bind := cfg.Bind
	advertise := cfg.Advertise
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err != nil {
			_, port, _ := net.SplitHostPort(bind)
			advertise = net.JoinHostPort(advertise, port)
		}
	}
	cl, err := gossip.NewCluster(gossip.ClusterConfig{
		NodeName: cfg.Name, BindAddr: bind, AdvertiseAddr: advertise, Join: cfg.Join, DataDir: cfg.DataDir,
		Meta:     gossip.NodeMeta{APIAddr: apiURL, Version: cfg.Version},
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

// agentRoutes serves the members list, this agent's info, and the gossip
// pulls of the other agents.
func agentRoutes(cfg Config, cl *gossip.Cluster, members memberLister, lead *leadership, dnsSrv *dns.Server) func(r *mux.Router) {
	return func(r *mux.Router) {
		membersRoute(cfg.Name, members, lead)(r)
		r.PathPrefix("/shoal/v1/internal/").Handler(cl.Handler())
		r.HandleFunc("/shoal/v1/agent", func(w http.ResponseWriter, _ *http.Request) {
			s := cl.Stats()
			info := map[string]any{
				"name": cfg.Name, "version": cfg.Version, "leader": lead.Leader(), "gossipAddress": cl.Addr(),
				"gossip": map[string]int64{
					"broadcastsQueued": s.BroadcastsQueued, "broadcastsSent": s.BroadcastsSent,
					"messagesReceived": s.MessagesReceived, "malformed": s.Malformed, "dropped": s.Dropped,
					"refused": s.Refused, "unknownSenders": s.UnknownSenders,
					"recordsApplied": s.RecordsApplied, "pulls": s.Pulls, "pullErrors": s.PullErrors,
				},
				"dns": map[string]any{"addresses": dnsSrv.Addrs(), "stats": dnsSrv.Stats()},
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(info)
		}).Methods(http.MethodGet)
	}
}
