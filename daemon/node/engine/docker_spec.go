package engine

import (
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"
)

// dockerConfigs translates a ContainerSpec into the engine's create request.
// No restart policy is set: the agent restarts containers itself. Logging
// keeps the engine's default driver so that Logs can read it back.
func dockerConfigs(spec ContainerSpec) (*container.Config, *container.HostConfig, error) {
	exposed, bindings, err := dockerPorts(spec.PortBindings)
	if err != nil {
		return nil, nil, err
	}
	mounts, err := dockerMounts(spec.Mounts)
	if err != nil {
		return nil, nil, err
	}
	cfg := &container.Config{
		Hostname:     spec.Hostname,
		User:         spec.User,
		AttachStdin:  spec.OpenStdin,
		ExposedPorts: exposed,
		Tty:          spec.TTY,
		OpenStdin:    spec.OpenStdin,
		StdinOnce:    false,
		Env:          spec.Env,
		Image:        spec.Image,
		WorkingDir:   spec.WorkingDir,
		Labels:       spec.Labels,
		StopSignal:   spec.StopSignal,
	}
	// A nil slice leaves the image's own entrypoint and command in place.
	if spec.Entrypoint != nil {
		cfg.Entrypoint = spec.Entrypoint
	}
	if spec.Cmd != nil {
		cfg.Cmd = spec.Cmd
	}
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(spec.NetworkMode),
		PortBindings:   bindings,
		DNS:            spec.DNS,
		DNSSearch:      spec.DNSSearch,
		DNSOptions:     spec.DNSOptions,
		IpcMode:        container.IpcMode(spec.IPCMode),
		PidMode:        container.PidMode(spec.PIDMode),
		Privileged:     spec.Privileged,
		ReadonlyRootfs: spec.ReadOnlyRootfs,
		CapAdd:         spec.CapAdd,
		CapDrop:        spec.CapDrop,
		SecurityOpt:    spec.SecurityOpt,
		GroupAdd:       spec.GroupAdd,
		Sysctls:        spec.Sysctls,
		ExtraHosts:     spec.ExtraHosts,
		Mounts:         mounts,
		Resources: container.Resources{
			NanoCPUs: spec.NanoCPUs,
			Memory:   spec.MemoryBytes,
		},
	}
	return cfg, host, nil
}

func dockerPorts(ports []PortBinding) (nat.PortSet, nat.PortMap, error) {
	if len(ports) == 0 {
		return nil, nil, nil
	}
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.Itoa(p.ContainerPort))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d/%s: %w", p.ContainerPort, proto, err)
		}
		exposed[port] = struct{}{}
		binding := nat.PortBinding{HostIP: p.HostIP}
		if p.HostPort != 0 {
			binding.HostPort = strconv.Itoa(p.HostPort)
		}
		bindings[port] = append(bindings[port], binding)
	}
	return exposed, bindings, nil
}

func dockerMounts(mounts []Mount) ([]mount.Mount, error) {
	out := make([]mount.Mount, 0, len(mounts))
	for _, m := range mounts {
		var typ mount.Type
		switch m.Type {
		case "bind":
			typ = mount.TypeBind
		case "volume":
			typ = mount.TypeVolume
		case "tmpfs":
			typ = mount.TypeTmpfs
		default:
			return nil, fmt.Errorf("mount at %s: unknown type %q", m.Target, m.Type)
		}
		out = append(out, mount.Mount{
			Type:     typ,
			Source:   m.Source,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	return out, nil
}
