package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/daemon/leader/apiservice"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
)

// certificateIPs are the addresses this agent's certificate names: the one
// it advertises, and the API's and gossip's bind addresses when specific.
func (c Config) certificateIPs(advertise string) []net.IP {
	var ips []net.IP
	add := func(host string) {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	add(advertise)
	for _, a := range []string{c.APIAddr, c.Bind, c.Advertise} {
		if host, _, err := net.SplitHostPort(a); err == nil {
			add(host)
		} else {
			add(a)
		}
	}
	// The kubernetes Service's address: pods' clients (client-go's
	// in-cluster configuration) dial it by IP.
	if p, err := netip.ParsePrefix(c.ServiceCIDR); err == nil {
		if ip, err := apiservice.ClusterIP(p); err == nil {
			add(ip)
		}
	}
	return ips
}

// greetPeers asks the agents of --join (when this agent already has its
// identity) whether they are of the same cluster, and takes the gossip
// keyring they use: an agent away during a key rotation can then talk
// again. An agent of another cluster is fatal, said in one line.
func (ci *clusterIdentity) greetPeers(ctx context.Context) error {
	for _, a := range ci.cfg.Join {
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		h, err := sayHello(hctx, ci.live, joinAddr(a))
		cancel()
		switch {
		case isForeignCluster(err):
			return fmt.Errorf("the agent at %s is not of this agent's cluster (%v); an agent belongs to one cluster: "+
				"to move it, start it with an empty --data-dir and a join token of the other cluster", a, err)
		case err != nil:
			ci.log.Debug("peer did not answer the greeting; gossip will keep trying", "peer", a, "err", err)
			continue
		}
		merged := identity.Keyring{Keys: slices.Clone(ci.keyring.Keys), Primary: h.Keyring.Primary}
		for _, k := range h.Keyring.Keys {
			if !slices.Contains(merged.Keys, k) {
				merged.Keys = append(merged.Keys, k)
			}
		}
		if len(merged.Keys) > 16 {
			merged.Keys = h.Keyring.Keys
		}
		if _, err := merged.Decode(); err == nil {
			ci.keyring = &merged
		}
		return nil
	}
	return nil
}

// apiTLS is the API's TLS configuration: the operator's certificate if
// given, else the node certificate; client certificates of the cluster's
// CA are credentials.
func (ci *clusterIdentity) apiTLS() (*tls.Config, error) {
	if ci.cfg.TLSCert == "" {
		return ci.live.APIServerConfig(nil), nil
	}
	cert, err := tls.LoadX509KeyPair(ci.cfg.TLSCert, ci.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return ci.live.APIServerConfig(&cert), nil
}

// keyID is the short fingerprint of a gossip key, as listings show it.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])[:12]
}

// KeyIDOf is keyID of a base64 key ("" if it does not decode).
func KeyIDOf(b64 string) string {
	b, err := identity.DecodeGossipKey(b64)
	if err != nil {
		return ""
	}
	return keyID(b)
}

// keyIDs lists a memberlist keyring's keys by fingerprint, primary first.
func keyIDs(kr *memberlist.Keyring) []string {
	primary := kr.GetPrimaryKey()
	out := []string{keyID(primary)}
	for _, k := range kr.GetKeys() {
		if !bytes.Equal(k, primary) {
			out = append(out, keyID(k))
		}
	}
	return out
}

// meta is what this agent tells the others about itself.
func (ci *clusterIdentity) meta(apiAddr string, kr *memberlist.Keyring) gossip.NodeMeta {
	return gossip.NodeMeta{APIAddr: apiAddr, Version: ci.cfg.Version, Keys: keyIDs(kr),
		CA: identity.ShortFingerprint(caOf(ci.live.Node()))}
}

// maintain follows the cluster records for as long as the agent runs: a
// keyring change is installed in memberlist, a new CA is trusted and this
// agent's certificate reissued from it, and the certificate is renewed
// when a third of its life is left.
func (ci *clusterIdentity) maintain(cl *gossip.Cluster) func(context.Context) error {
	return func(ctx context.Context) error {
		for ctx.Err() == nil {
			sub, _, err := ci.st.Subscribe([]string{identity.RecordPrefix}, 0, false)
			if err != nil {
				return err
			}
			ci.follow(ctx, cl, sub)
			sub.Cancel()
		}
		return nil
	}
}

func (ci *clusterIdentity) follow(ctx context.Context, cl *gossip.Cluster, sub *gossip.Subscription) {
	ci.syncKeyring(cl)
	ci.syncCA(cl)
	changes := make(chan struct{}, 1)
	go func() {
		defer close(changes)
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
			select {
			case changes <- struct{}{}:
			default:
			}
		}
	}()
	for {
		renew := time.Until(ci.live.Node().RenewAfter())
		timer := time.NewTimer(max(renew, time.Second))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case _, ok := <-changes:
			timer.Stop()
			if !ok {
				return // the subscription ended: subscribe again
			}
			ci.syncKeyring(cl)
			ci.syncCA(cl)
		case <-timer.C:
			if err := ci.reissue(); err != nil {
				ci.log.Error("renewing this agent's certificate failed; retrying in a minute", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Minute):
				}
				continue
			}
			ci.log.Info("renewed this agent's certificate", "valid_until", ci.live.Node().Leaf().NotAfter)
			ci.publishMeta(cl)
		}
	}
}

// syncKeyring makes memberlist's keyring what the x/keyring record says:
// new keys installed, the primary switched, removed keys removed.
func (ci *clusterIdentity) syncKeyring(cl *gossip.Cluster) {
	var kr identity.Keyring
	ok, err := readRecord(ci.st, identity.RecordKeyring, &kr)
	if err != nil || !ok {
		if err != nil {
			ci.log.Error("the gossip keyring record is not valid; keeping the keys in use", "err", err)
		}
		return
	}
	ml := cl.Keyring()
	if ml == nil {
		return
	}
	want := map[string][]byte{}
	for _, s := range kr.Keys {
		b, _ := base64.StdEncoding.DecodeString(s) // checked by readRecord
		want[string(b)] = b
	}
	primary, _ := base64.StdEncoding.DecodeString(kr.Primary)
	changed := false
	for _, b := range want {
		if !slices.ContainsFunc(ml.GetKeys(), func(k []byte) bool { return bytes.Equal(k, b) }) {
			if err := ml.AddKey(b); err == nil {
				changed = true
				ci.log.Info("installed a gossip key", "key", keyID(b))
			}
		}
	}
	if !bytes.Equal(ml.GetPrimaryKey(), primary) {
		if err := ml.UseKey(primary); err == nil {
			changed = true
			ci.log.Info("gossip now encrypts with another key", "key", keyID(primary))
		}
	}
	for _, k := range ml.GetKeys() {
		if _, keep := want[string(k)]; !keep && !bytes.Equal(k, ml.GetPrimaryKey()) {
			if err := ml.RemoveKey(k); err == nil {
				changed = true
				ci.log.Info("removed a gossip key", "key", keyID(k))
			}
		}
	}
	if changed {
		ci.publishMeta(cl)
	}
}

// syncCA follows the cluster CA: new roots are trusted at once, and when
// the CA that signs is not the one this agent's certificate comes from,
// the agent reissues its own certificate from it.
func (ci *clusterIdentity) syncCA(cl *gossip.Cluster) {
	var st identity.CAState
	ok, err := readRecord(ci.st, identity.RecordCA, &st)
	if err != nil || !ok {
		if err != nil {
			ci.log.Error("the cluster CA record is not valid; keeping the trust in use", "err", err)
		}
		return
	}
	p, err := st.Parse()
	if err != nil {
		return
	}
	cur := ci.live.Node()
	sameTrust := len(cur.Trust) == len(p.Trusted)
	for i := 0; sameTrust && i < len(cur.Trust); i++ {
		sameTrust = cur.Trust[i].Equal(p.Trusted[i])
	}
	if caOf(cur).Equal(p.CA.Cert) && sameTrust {
		return
	}
	if err := ci.reissue(); err != nil {
		ci.log.Error("moving to the cluster's new CA failed", "err", err)
		return
	}
	ci.log.Info("now trusting the cluster's current CAs, with a certificate from the current one",
		"ca", identity.ShortFingerprint(p.CA.Cert), "trusted", len(p.Trusted))
	ci.publishMeta(cl)
	ci.updateAdminKubeconfig()
}

// updateAdminKubeconfig keeps the CA data of the admin kubeconfig this
// agent wrote (if any) in step with the roots agents trust.
func (ci *clusterIdentity) updateAdminKubeconfig() {
	path := filepath.Join(ci.cfg.DataDir, AdminKubeconfig)
	kc, err := client.LoadKubeconfig(path)
	if err != nil {
		return // none here
	}
	for i := range kc.Clusters {
		kc.Clusters[i].Cluster.CertificateAuthorityData = ci.trustBundle()
	}
	if err := kc.Save(path); err != nil {
		ci.log.Error("updating the CA of the admin kubeconfig failed", "path", path, "err", err)
	}
}

// reissue gives this agent a new certificate from the CA in the store.
func (ci *clusterIdentity) reissue() error {
	var st identity.CAState
	ok, err := readRecord(ci.st, identity.RecordCA, &st)
	if err == nil && !ok {
		err = errors.New("the cluster CA has not reached this agent")
	}
	if err != nil {
		return err
	}
	p, err := st.Parse()
	if err != nil {
		return err
	}
	cur := ci.live.Node()
	n, err := identity.IssueSelf(p.CA, p.CrossSigned, cur.Name, cur.Leaf().IPAddresses, ci.cfg.NodeCertValidity, time.Now())
	if err != nil {
		return err
	}
	n.Trust = p.Trusted
	if err := n.Save(ci.cfg.DataDir); err != nil {
		return err
	}
	ci.live.Set(n)
	return nil
}

// publishMeta tells the others this agent's keys and CA.
func (ci *clusterIdentity) publishMeta(cl *gossip.Cluster) {
	if err := cl.UpdateMeta(ci.meta(ci.metaAPIAddr, cl.Keyring()), 5*time.Second); err != nil {
		ci.log.Debug("spreading this agent's metadata", "err", err)
	}
}
