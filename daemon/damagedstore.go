package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
)

// openStore opens the agent's state.db. A damaged one (it fails to open or
// to verify: truncated, overwritten, inconsistent) is moved aside, kept for
// inspection, and replaced by an empty store that rebuilds itself from the
// agent's peers (gossip.WithRebuild). An agent that knows no peer to
// rebuild from refuses to start, says what to do, and leaves the file.
func openStore(cfg Config, log *slog.Logger, opts ...gossip.Option) (*gossip.Store, error) {
	path := filepath.Join(cfg.DataDir, "state.db")
	st, err := gossip.Open(path, cfg.Name, log, opts...)
	var de *gossip.DamagedError
	if !errors.As(err, &de) {
		return st, err
	}
	peers := rebuildPeers(cfg, log)
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w. This agent knows no peer to rebuild its state from (no --join, and none remembered in %s): "+
			"if other agents of its cluster run, start it again with --join <address of one of them> and it rebuilds its state from them; "+
			"if it is the cluster's only agent, put back a copy of state.db from a backup. The file was left in place",
			err, cfg.DataDir)
	}
	moved, merr := gossip.MoveAside(path, time.Now())
	if merr != nil {
		return nil, fmt.Errorf("%w; moving it aside failed too (%v): move it aside by hand and start again", err, merr)
	}
	log.Error("the store is damaged: moved it aside, and this agent rebuilds its state from its peers; "+
		"it serves no pods and writes nothing until a peer has synced it",
		"store", path, "moved_to", moved, "damage", de.Err, "peers", strings.Join(peers, ","))
	return gossip.Open(path, cfg.Name, log, append(opts, gossip.WithRebuild())...)
}

// rebuildPeers are the gossip addresses a store can rebuild from: --join
// and the peers the agent remembers.
func rebuildPeers(cfg Config, log *slog.Logger) []string {
	var peers []string
	for _, a := range cfg.Join {
		peers = append(peers, joinAddr(a))
	}
	remembered, err := gossip.RememberedPeers(cfg.DataDir)
	if err != nil {
		log.Warn("the remembered peers could not be read", "err", err)
	}
	for _, a := range remembered {
		if !slices.Contains(peers, a) {
			peers = append(peers, a)
		}
	}
	return peers
}

// keyringFromPeers asks the peers a rebuilding store rebuilds from for the
// cluster's gossip keyring (the store that held it was damaged), until one
// answers or ctx ends: the agent cannot gossip without it.
func keyringFromPeers(ctx context.Context, cfg Config, live *identity.Live, log *slog.Logger) (*identity.Keyring, error) {
	peers := rebuildPeers(cfg, log)
	if len(peers) == 0 {
		return nil, errors.New("the store is being rebuilt and holds no gossip keyring yet, and this agent knows no peer " +
			"to ask for it: start it with --join <address of an agent of its cluster>")
	}
	delay := time.Second
	for attempt := 1; ; attempt++ {
		var errs []error
		for _, a := range peers {
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			h, err := sayHello(hctx, live, a)
			cancel()
			if err == nil {
				log.Info("took the gossip keyring from a peer, to rebuild the store", "peer", a)
				return &h.Keyring, nil
			}
			if isForeignCluster(err) {
				return nil, fmt.Errorf("the agent at %s is not of this agent's cluster (%v): it cannot rebuild this agent's store", a, err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("rebuilding the store: no peer answered yet; retrying", "peers", strings.Join(peers, ","),
				"attempts", attempt, "err", errors.Join(errs...))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// waitRebuilt holds the agent back, while its store is rebuilt, until a
// peer has synced it: acting on an empty store would stop the pods it
// does not know yet and recreate objects the cluster holds.
func waitRebuilt(ctx context.Context, cl *gossip.Cluster, st *gossip.Store, log *slog.Logger) error {
	if !st.Rebuilding() {
		return nil
	}
	log.Info("waiting for a peer to sync this agent's rebuilt store")
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-cl.Synced():
			return nil
		case <-cl.Done():
			return cl.Err()
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			log.Warn("still waiting for a peer to sync this agent's rebuilt store", "waited", time.Since(start).Round(time.Second))
		}
	}
}
