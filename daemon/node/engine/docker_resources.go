package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// bridgeNameOption is the bridge driver's option naming the Linux device.
const bridgeNameOption = "com.docker.network.bridge.name"

// EnsureNetwork returns the id of the bridge network spec.Name, creating it
// when absent and re-creating it when it differs from spec and nothing is
// attached to it. A network in use that differs is ErrInUse: it cannot be
// changed in place.
func (d *Docker) EnsureNetwork(ctx context.Context, spec NetworkSpec) (string, error) {
	inspect, err := d.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{})
	switch {
	case err == nil:
		diff := networkDiff(inspect, spec)
		if diff == "" {
			return inspect.ID, nil
		}
		if err := d.removeUnused(ctx, inspect, diff); err != nil {
			return "", err
		}
	case !errors.Is(mapErr(err, ErrNotFound), ErrNotFound):
		return "", fmt.Errorf("inspect network %s: %w", spec.Name, mapErr(err, ErrNotFound))
	}
	created, err := d.cli.NetworkCreate(ctx, spec.Name, createOptions(spec))
	if err == nil {
		d.log.Info("created network", "network", spec.Name, "subnet", spec.Subnet, "bridge", spec.BridgeName, "id", created.ID)
		return created.ID, nil
	}
	if mapped := mapErr(err, ErrNotFound); errors.Is(mapped, ErrConflict) {
		// Someone else created it meanwhile: it must match too.
		inspect, ierr := d.cli.NetworkInspect(ctx, spec.Name, network.InspectOptions{})
		if ierr != nil {
			return "", fmt.Errorf("inspect network %s: %w", spec.Name, mapErr(ierr, ErrNotFound))
		}
		if diff := networkDiff(inspect, spec); diff != "" {
			return "", fmt.Errorf("network %s was created meanwhile with %s: %w", spec.Name, diff, ErrConflict)
		}
		return inspect.ID, nil
	}
	return "", fmt.Errorf("create network %s: %w", spec.Name, mapErr(err, ErrNotFound))
}

// RemoveNetwork removes the network name if nothing is attached to it.
func (d *Docker) RemoveNetwork(ctx context.Context, name string) error {
	inspect, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect network %s: %w", name, mapErr(err, ErrNotFound))
	}
	attached, err := d.attached(ctx, inspect)
	if err != nil {
		return err
	}
	if len(attached) > 0 {
		return fmt.Errorf("network %s: containers %s are attached to it: %w", name, strings.Join(attached, ", "), ErrInUse)
	}
	if err := d.cli.NetworkRemove(ctx, inspect.ID); err != nil {
		return fmt.Errorf("remove network %s: %w", name, mapErr(err, ErrNotFound))
	}
	d.log.Info("removed network", "network", name, "id", inspect.ID)
	return nil
}

func createOptions(spec NetworkSpec) network.CreateOptions {
	opts := network.CreateOptions{Driver: "bridge", Options: maps.Clone(spec.Options)}
	if spec.BridgeName != "" {
		if opts.Options == nil {
			opts.Options = map[string]string{}
		}
		opts.Options[bridgeNameOption] = spec.BridgeName
	}
	if spec.Subnet != "" {
		opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: spec.Subnet, Gateway: spec.Gateway}}}
	}
	return opts
}

// networkDiff says how an existing network differs from spec, or "" when it
// matches.
func networkDiff(n network.Inspect, spec NetworkSpec) string {
	var diffs []string
	if n.Driver != "bridge" {
		diffs = append(diffs, fmt.Sprintf("driver %s, not bridge", n.Driver))
	}
	if spec.Subnet != "" || spec.Gateway != "" {
		var have []string
		found := false
		for _, c := range n.IPAM.Config {
			have = append(have, c.Subnet+" gateway "+c.Gateway)
			if (spec.Subnet == "" || sameSubnet(c.Subnet, spec.Subnet)) &&
				(spec.Gateway == "" || c.Gateway == "" || sameAddr(c.Gateway, spec.Gateway)) {
				found = true
			}
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("subnets %v, not %s gateway %s", have, spec.Subnet, spec.Gateway))
		}
	}
	want := maps.Clone(spec.Options)
	if spec.BridgeName != "" {
		if want == nil {
			want = map[string]string{}
		}
		want[bridgeNameOption] = spec.BridgeName
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got, ok := n.Options[k]; !ok || got != want[k] {
			diffs = append(diffs, fmt.Sprintf("option %s=%q, not %q", k, got, want[k]))
		}
	}
	return strings.Join(diffs, ", ")
}

// removeUnused removes a network that differs from what is wanted, unless a
// container is attached to it: stopped containers count too, as starting
// them again would fail once their network is gone.
func (d *Docker) removeUnused(ctx context.Context, n network.Inspect, diff string) error {
	attached, err := d.attached(ctx, n)
	if err != nil {
		return err
	}
	if len(attached) > 0 {
		return fmt.Errorf("network %s has %s, and containers %s are attached to it: %w",
			n.Name, diff, strings.Join(attached, ", "), ErrInUse)
	}
	d.log.Warn("re-creating network", "network", n.Name, "id", n.ID, "differs", diff)
	if err := d.cli.NetworkRemove(ctx, n.ID); err != nil && !errors.Is(mapErr(err, ErrNotFound), ErrNotFound) {
		// A container may have joined since the check.
		if again, aerr := d.attached(ctx, n); aerr == nil && len(again) > 0 {
			return fmt.Errorf("network %s has %s, and containers %s are attached to it: %w",
				n.Name, diff, strings.Join(again, ", "), ErrInUse)
		}
		return fmt.Errorf("remove network %s: %w", n.Name, mapErr(err, ErrNotFound))
	}
	return nil
}

// attached names the containers, running or not, attached to network n.
func (d *Docker) attached(ctx context.Context, n network.Inspect) ([]string, error) {
	// By name too: a container created but never started has no network
	// id yet.
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("network", n.ID), filters.Arg("network", n.Name))})
	if err != nil {
		return nil, fmt.Errorf("list containers of network %s: %w", n.Name, mapErr(err, ErrNotFound))
	}
	seen := map[string]bool{}
	var names []string
	add := func(id, name string) {
		if seen[id] {
			return
		}
		seen[id] = true
		names = append(names, strings.TrimPrefix(name, "/"))
	}
	for _, c := range list {
		name := c.ID
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		add(c.ID, name)
	}
	for id, ep := range n.Containers {
		add(id, ep.Name)
	}
	slices.Sort(names)
	return names, nil
}

func sameSubnet(a, b string) bool {
	pa, errA := netip.ParsePrefix(a)
	pb, errB := netip.ParsePrefix(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Masked() == pb.Masked()
}

func sameAddr(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa == pb
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
