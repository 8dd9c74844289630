package podnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// ClaimFile is the file in the agent's data directory that keeps the node's
// pod subnet, so that the claim outlives even a lost object store.
const ClaimFile = "pod-cidr"

// readClaimFile returns the saved claim, "" if there is none.
func readClaimFile(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, ClaimFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read pod subnet claim: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeClaimFile saves the claim atomically: a crash leaves the old claim or
// the new one, never a torn file.
func writeClaimFile(dataDir, subnet string) error {
	path := filepath.Join(dataDir, ClaimFile)
	tmp, err := os.CreateTemp(dataDir, ClaimFile+".tmp*")
	if err != nil {
		return fmt.Errorf("save pod subnet claim: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.WriteString(subnet + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("save pod subnet claim: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save pod subnet claim: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save pod subnet claim: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save pod subnet claim: %w", err)
	}
	return nil
}

// persist saves the claim to the file, then to the Node's spec: the file
// first, as the one the next start trusts.
func (c *Claimer) persist(ctx context.Context, subnet netip.Prefix) error {
	s := subnet.String()
	if saved, err := readClaimFile(c.cfg.DataDir); err != nil || saved != s {
		if err := writeClaimFile(c.cfg.DataDir, s); err != nil {
			return err
		}
	}
	return c.publish(ctx, s)
}

// publish writes the claim to spec.podCIDR and spec.podCIDRs, retrying
// when a concurrent update (a user's cordon) got there first.
func (c *Claimer) publish(ctx context.Context, s string) error {
	for attempt := 0; ; attempt++ {
		obj, err := c.cfg.Store.Get(ctx, api.KindNode, "", c.cfg.Node)
		if err != nil {
			return fmt.Errorf("publish pod subnet %s: read node %s: %w", s, c.cfg.Node, err)
		}
		n := obj.(*api.Node)
		if n.Spec.PodCIDR == s && len(n.Spec.PodCIDRs) == 1 && n.Spec.PodCIDRs[0] == s {
			return nil
		}
		n.Spec.PodCIDR, n.Spec.PodCIDRs = s, []string{s}
		_, err = c.cfg.Store.Update(ctx, n)
		if err == nil {
			return nil
		}
		if !api.IsConflict(err) || attempt >= 5 {
			return fmt.Errorf("publish pod subnet %s on node %s: %w", s, c.cfg.Node, err)
		}
	}
}
