package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/daemon/leader/apiservice"
	"github.com/shoal-dev/shoal/daemon/node/runtime"
	"github.com/shoal-dev/shoal/daemon/trust/auth"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/daemon/trust/satoken"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// AdminKubeconfig is the file the first agent of a cluster writes in its
// data dir: the API's address, the cluster CA and the admin token.
const AdminKubeconfig = "admin.kubeconfig"

// clusterIdentity is this agent's place in the cluster: its certificate
// (following renewals), and the cluster records it reads them from.
type clusterIdentity struct {
	cfg  Config
	st   *gossip.Store
	live *identity.Live
	log  *slog.Logger
	// keyring is the gossip keyring to start with.
	keyring *identity.Keyring
	// founded: this agent created the cluster now, and must create the
	// admin credential once the object store is up.
	founded   bool
	adminFile bool
	// metaAPIAddr is the address told to the others as where records are
	// pulled from.
	metaAPIAddr string
}

// loadOrJoin finds this agent's identity in its data dir, or asks a peer
// to admit it with the join token; it returns nil (and no error) when the
// agent is to found a new cluster or to recover its certificate from the
// CA its store holds. Nothing is written before a peer admitted it.
func loadOrJoin(ctx context.Context, cfg Config, ips []net.IP, log *slog.Logger) (*identity.Node, *identity.Keyring, error) {
	node, err := identity.Load(cfg.DataDir, cfg.Name)
	switch {
	case err == nil:
		if node.Name != identity.NodeName(node.Leaf()) {
			return nil, nil, fmt.Errorf("the certificate in %s is for node %q, not %q: an agent keeps the name it joined with "+
				"(start it with --name %s, or with an empty --data-dir and a join token to join under a new name)",
				identity.Dir(cfg.DataDir), identity.NodeName(node.Leaf()), cfg.Name, identity.NodeName(node.Leaf()))
		}
		return node, nil, nil
	case !errors.Is(err, identity.ErrNoIdentity):
		return nil, nil, err
	}
	if len(cfg.Join) == 0 {
		return nil, nil, nil // founding (or recovering from the local store)
	}
	if cfg.JoinToken == "" {
		return nil, nil, fmt.Errorf("this agent has no cluster identity yet and --join needs a join token: " +
			"give --join-token (or $SHOAL_JOIN_TOKEN); print it with `shoal join-token` on a member of the cluster")
	}
	tok, err := identity.ParseJoinToken(cfg.JoinToken)
	if err != nil {
		return nil, nil, fmt.Errorf("--join-token: %w", err)
	}
	delay := 500 * time.Millisecond
	for {
		for _, addr := range cfg.Join {
			jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			j, err := identity.Join(jctx, joinAddr(addr), tok, cfg.Name, ips)
			cancel()
			if err == nil {
				log.Info("joined the cluster: certificate issued", "via", j.Via, "ca", identity.ShortFingerprint(j.Node.Trust[0]))
				if err := j.Node.Save(cfg.DataDir); err != nil {
					return nil, nil, err
				}
				return j.Node, &j.Keyring, nil
			}
			var re *identity.RefusedError
			if errors.As(err, &re) && re.Permanent() {
				return nil, nil, err
			}
			log.Warn("join: no answer yet; retrying", "peer", addr, "err", err, "in", delay)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// joinAddr adds the default gossip port to a --join address without one.
func joinAddr(a string) string {
	if _, _, err := net.SplitHostPort(a); err != nil {
		return net.JoinHostPort(a, "7481")
	}
	return a
}

// setupIdentity completes the identity once the store is open: it founds
// the cluster (or reissues this agent's certificate from the CA in the
// store), stores what a join brought, and picks the gossip keyring.
func setupIdentity(ctx context.Context, cfg Config, st *gossip.Store, node *identity.Node, joined *identity.Keyring,
	ips []net.IP, log *slog.Logger) (*clusterIdentity, error) {
	ci := &clusterIdentity{cfg: cfg, st: st, log: log}
	now := time.Now()
	if node == nil && st.Rebuilding() {
		return nil, fmt.Errorf("this agent's store is being rebuilt from its peers (it was damaged) and its identity (%s) is gone: "+
			"start it with an empty --data-dir and a join token (`shoal join-token` on a member prints it)", identity.Dir(cfg.DataDir))
	}
	if node == nil {
		var ca identity.CAState
		switch ok, err := readRecord(st, identity.RecordCA, &ca); {
		case err != nil:
			return nil, err
		case ok:
			// The identity files are gone but the store holds the CA:
			// issue this agent a certificate again.
			p, err := ca.Parse()
			if err != nil {
				return nil, err
			}
			if node, err = identity.IssueSelf(p.CA, p.CrossSigned, cfg.Name, ips, cfg.NodeCertValidity, now); err != nil {
				return nil, err
			}
			node.Trust = p.Trusted
			log.Warn("this agent's certificate was missing; issued a new one from the cluster CA in its store")
		default:
			f, err := identity.Found(cfg.Name, ips, cfg.NodeCertValidity, now)
			if err != nil {
				return nil, err
			}
			if err := writeRecords(ctx, st, map[string]any{identity.RecordCA: f.CA, identity.RecordJoin: f.Join,
				identity.RecordKeyring: f.Keyring}); err != nil {
				return nil, err
			}
			node = f.Node
			ci.founded = true
			log.Info("founded a new cluster: created its CA, this agent's certificate, the gossip key and the join secret",
				"ca", identity.ShortFingerprint(node.Trust[0]))
		}
		if err := node.Save(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if err := node.Verify(now); err != nil {
		return nil, fmt.Errorf("this agent's certificate (%s) does not verify: %w; rejoin with an empty --data-dir and a join token",
			identity.Dir(cfg.DataDir), err)
	}
	if joined != nil {
		if err := writeRecords(ctx, st, map[string]any{identity.RecordKeyring: joined}); err != nil {
			return nil, err
		}
	}
	ci.live = identity.NewLive(node)
	var kr identity.Keyring
	switch ok, err := readRecord(st, identity.RecordKeyring, &kr); {
	case ok && err == nil:
		ci.keyring = &kr
	case st.Rebuilding():
		// The store that held it was damaged: a peer has it.
		if ci.keyring, err = keyringFromPeers(ctx, cfg, ci.live, log); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the store holds no gossip keyring (%v); rejoin with an empty --data-dir and a join token", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, AdminKubeconfig)); err == nil {
		ci.adminFile = true
	}
	return ci, nil
}

// memberlistKeyring is the keyring memberlist encrypts gossip with.
func memberlistKeyring(kr *identity.Keyring) (*memberlist.Keyring, error) {
	keys, err := kr.Decode()
	if err != nil {
		return nil, err
	}
	return memberlist.NewKeyring(keys, keys[0])
}

// ensureAdmin creates the admin credential of a new cluster: a Token bound
// to cluster-admin, and the kubeconfig that holds it (mode 0600).
func (ci *clusterIdentity) ensureAdmin(ctx context.Context, objs Store, apiURL string) error {
	if !ci.founded && ci.adminFile {
		return nil
	}
	if !ci.founded {
		// Recovered from the store without the kubeconfig: nothing to do
		// unless this agent founded the cluster.
		return nil
	}
	token, hash, err := api.NewBearerToken(auth.AdminUser)
	if err != nil {
		return err
	}
	t := &api.Token{ObjectMeta: api.ObjectMeta{Name: auth.AdminUser, Labels: map[string]string{auth.LabelBootstrap: "admin"}},
		Spec: api.TokenSpec{Hash: hash, Description: "the admin credential the first agent wrote to " + AdminKubeconfig}}
	if _, err := objs.Create(ctx, t); err != nil && !api.IsAlreadyExists(err) {
		return fmt.Errorf("admin token: %w", err)
	}
	if _, err := objs.Create(ctx, auth.AdminBinding()); err != nil && !api.IsAlreadyExists(err) {
		return fmt.Errorf("admin binding: %w", err)
	}
	kc := client.NewKubeconfig("shoal", apiURL, identity.EncodeCerts(ci.live.Node().Trust...), auth.AdminUser, token)
	path := filepath.Join(ci.cfg.DataDir, AdminKubeconfig)
	if err := kc.Save(path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ci.log.Info("wrote the admin credentials", "kubeconfig", path)
	return nil
}

// readRecord decodes a cluster record; false if it is absent.
func readRecord(st *gossip.Store, key string, v any) (bool, error) {
	r := st.Get(key)
	if r == nil || r.Deleted {
		return false, nil
	}
	if err := identity.ValidateRecord(key, r.Value, r.Deleted); err != nil {
		return false, err
	}
	if err := json.Unmarshal(r.Value, v); err != nil {
		return false, fmt.Errorf("%s: %w", key, err)
	}
	return true, nil
}

// writeRecords writes cluster records in one transaction.
func writeRecords(ctx context.Context, st *gossip.Store, recs map[string]any) error {
	vals := map[string][]byte{}
	for k, v := range recs {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := identity.ValidateRecord(k, b, false); err != nil {
			return err
		}
		vals[k] = b
	}
	_, err := st.Update(ctx, func(t *gossip.Txn) error {
		for k, b := range vals {
			t.Put(k, b)
		}
		return nil
	})
	return registry.StoreError(err)
}

// authority lets this agent admit others: the cluster records in its
// store, and membership for names in use.
type authority struct {
	st      *gossip.Store
	members func() []gossip.Member
}

func (a authority) CAState() (*identity.CAState, error) {
	var s identity.CAState
	ok, err := readRecord(a.st, identity.RecordCA, &s)
	if err == nil && !ok {
		err = errors.New("the cluster CA has not reached this agent yet")
	}
	return &s, err
}

func (a authority) JoinState() (*identity.JoinState, error) {
	var s identity.JoinState
	ok, err := readRecord(a.st, identity.RecordJoin, &s)
	if err == nil && !ok {
		err = errors.New("the join secret has not reached this agent yet")
	}
	return &s, err
}

func (a authority) Keyring() (*identity.Keyring, error) {
	var s identity.Keyring
	ok, err := readRecord(a.st, identity.RecordKeyring, &s)
	if err == nil && !ok {
		err = errors.New("the gossip keyring has not reached this agent yet")
	}
	return &s, err
}

// CheckJoinName refuses a name that a live member uses from another
// address: two agents of one name would fight over its pods.
func (a authority) CheckJoinName(name string, ips []net.IP) error {
	for _, m := range a.members() {
		if m.Name != name || m.State != gossip.StateAlive {
			continue
		}
		host, _, err := net.SplitHostPort(m.Addr)
		if err != nil {
			host = m.Addr
		}
		if !slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.Equal(net.ParseIP(host)) }) {
			return fmt.Errorf("node name %s is already used by a live member at %s; give this agent another --name", name, m.Addr)
		}
	}
	return nil
}

// podTokens signs the service-account tokens of this node's pods with
// its current identity.
type podTokens struct{ ci *clusterIdentity }

func (p podTokens) Token(pod *api.Pod, now time.Time) (string, time.Time, error) {
	return satoken.Issue(p.ci.live.Node(), pod, now, satoken.DefaultTTL)
}

func (p podTokens) CA() []byte { return p.ci.trustBundle() }

// apiServiceHost is the kubernetes Service's address in the service range.
func apiServiceHost(cfg Config) string {
	p, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil {
		return ""
	}
	ip, err := apiservice.ClusterIP(p)
	if err != nil {
		return ""
	}
	return ip
}

// podTokensUnlessSimulated: simulated pods run nothing that could read a
// token, and a tmpfs per simulated pod would only cost.
func podTokensUnlessSimulated(ci *clusterIdentity, sim *Simulation) runtime.TokenSource {
	if sim != nil {
		return nil
	}
	return podTokens{ci}
}

// trustBundle is the PEM of the roots this agent trusts.
func (ci *clusterIdentity) trustBundle() []byte { return identity.EncodeCerts(ci.live.Node().Trust...) }

// caOf returns the CA that issued this agent's certificate (the last
// certificate of its chain that verifies under its roots).
func caOf(n *identity.Node) *x509.Certificate {
	for _, r := range n.Trust {
		if n.Leaf().CheckSignatureFrom(r) == nil {
			return r
		}
	}
	return n.Trust[0]
}
