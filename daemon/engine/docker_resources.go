package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// EnsureNetwork returns the id of the bridge network name, creating it with
// subnet (or one the engine picks, if subnet is "") when absent. An existing
// network without that subnet is ErrConflict: it cannot be changed in place.
func (d *Docker) EnsureNetwork(ctx context.Context, name, subnet string) (string, error) {
	id, err := d.existingNetwork(ctx, name, subnet)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return id, err
	}
	opts := network.CreateOptions{Driver: "bridge"}
	if subnet != "" {
		opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}
	}
	created, err := d.cli.NetworkCreate(ctx, name, opts)
	if err == nil {
		d.log.Info("created network", "network", name, "subnet", subnet, "id", created.ID)
		return created.ID, nil
	}
	if mapped := mapErr(err, ErrNotFound); errors.Is(mapped, ErrConflict) {
		// Someone else created it meanwhile.
		return d.existingNetwork(ctx, name, subnet)
	}
	return "", fmt.Errorf("create network %s: %w", name, mapErr(err, ErrNotFound))
}

// existingNetwork returns the network's id, ErrNotFound, or ErrConflict when
// its subnets do not include subnet.
func (d *Docker) existingNetwork(ctx context.Context, name, subnet string) (string, error) {
	inspect, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect network %s: %w", name, mapErr(err, ErrNotFound))
	}
	if subnet == "" {
		return inspect.ID, nil
	}
	var have []string
	for _, c := range inspect.IPAM.Config {
		if sameSubnet(c.Subnet, subnet) {
			return inspect.ID, nil
		}
		have = append(have, c.Subnet)
	}
	return "", fmt.Errorf("network %s has subnets %v, not %s: %w", name, have, subnet, ErrConflict)
}

func sameSubnet(a, b string) bool {
	pa, errA := netip.ParsePrefix(a)
	pb, errB := netip.ParsePrefix(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Masked() == pb.Masked()
}

// EnsureVolume creates the named local volume with labels when absent; an
// existing volume is left as it is.
func (d *Docker) EnsureVolume(ctx context.Context, name string, labels map[string]string) error {
	_, err := d.cli.VolumeInspect(ctx, name)
	if err == nil {
		return nil
	}
	if mapped := mapErr(err, ErrNotFound); !errors.Is(mapped, ErrNotFound) {
		return fmt.Errorf("inspect volume %s: %w", name, mapped)
	}
	// Creating a volume that exists is a no-op for the engine, so a
	// concurrent create is harmless.
	if _, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", name, mapErr(err, ErrNotFound))
	}
	return nil
}
