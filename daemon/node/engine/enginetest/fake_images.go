package enginetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ImportedImage is what ImportImage received for one ref.
type ImportedImage struct {
	RootfsTar []byte
	Changes   []string
}

type fakeNetwork struct {
	id   string
	spec engine.NetworkSpec
	gen  int // times re-created, for a fresh id each time
}

// AddImage makes images present locally, as if pulled before.
func (f *Fake) AddImage(refs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range refs {
		f.images[normalizeRef(r)] = true
	}
}

// RemoveImage makes an image absent again.
func (f *Fake) RemoveImage(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, normalizeRef(ref))
}

// AddRegistryImage makes refs pullable. Pulling any other ref fails with
// engine.ErrImageNotFound.
func (f *Fake) AddRegistryImage(refs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range refs {
		f.registry[normalizeRef(r)] = true
	}
}

// Images lists the refs present locally, sorted.
func (f *Fake) Images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.images))
}

// Imported returns what the last ImportImage of ref received.
func (f *Fake) Imported(ref string) (ImportedImage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.imported[normalizeRef(ref)]
	return img, ok
}

// Network returns the id and subnet of a network EnsureNetwork made.
func (f *Fake) Network(name string) (id, subnet string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.networks[name]
	return n.id, n.spec.Subnet, ok
}

// NetworkSpec returns what the network name was last created with.
func (f *Fake) NetworkSpec(name string) (engine.NetworkSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.networks[name]
	n.spec.Options = maps.Clone(n.spec.Options)
	return n.spec, ok
}

// Volume returns the labels of a volume EnsureVolume made.
func (f *Fake) Volume(name string) (labels map[string]string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.volumes[name]
	return maps.Clone(l), ok
}

func (f *Fake) ImageExists(ctx context.Context, ref string) (bool, error) {
	f.record("ImageExists", ref)
	if err := f.hold(ctx, "ImageExists"); err != nil {
		return false, err
	}
	if f.ImageExistsFn != nil {
		return f.ImageExistsFn(ctx, ref)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return false, err
	}
	return f.images[normalizeRef(ref)], nil
}

// SetImageUser sets the USER an image is configured with (default "").
func (f *Fake) SetImageUser(ref, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.configLocked(ref)
	cfg.User = user
	f.configs[normalizeRef(ref)] = cfg
}

// FakeImageCmd is the CMD of fake images not given one with
// SetImageCommand: a command, as most images have.
var FakeImageCmd = []string{"/bin/sh"}

// SetImageCommand sets the ENTRYPOINT and CMD an image is configured
// with (default: no entrypoint, FakeImageCmd).
func (f *Fake) SetImageCommand(ref string, entrypoint, cmd []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.configLocked(ref)
	cfg.Entrypoint, cfg.Cmd = entrypoint, cmd
	f.configs[normalizeRef(ref)] = cfg
}

// configLocked is the image's configuration: as set, or no user, no
// entrypoint and FakeImageCmd.
func (f *Fake) configLocked(ref string) engine.ImageInfo {
	if cfg, ok := f.configs[normalizeRef(ref)]; ok {
		return cfg
	}
	return engine.ImageInfo{Cmd: FakeImageCmd}
}

func (f *Fake) InspectImage(ctx context.Context, ref string) (engine.ImageInfo, error) {
	f.record("InspectImage", ref)
	if err := f.hold(ctx, "InspectImage"); err != nil {
		return engine.ImageInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return engine.ImageInfo{}, err
	}
	if !f.images[normalizeRef(ref)] {
		return engine.ImageInfo{}, fmt.Errorf("inspect image %s: %w", ref, engine.ErrImageNotFound)
	}
	info := f.configLocked(ref)
	info.ID = "sha256:" + normalizeRef(ref)
	return info, nil
}

func (f *Fake) PullImage(ctx context.Context, ref string) error {
	f.record("PullImage", ref)
	if err := f.hold(ctx, "PullImage"); err != nil {
		return err
	}
	if f.PullImageFn != nil {
		return f.PullImageFn(ctx, ref)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	if !f.registry[normalizeRef(ref)] {
		return fmt.Errorf("pull image %s: %w", ref, engine.ErrImageNotFound)
	}
	f.images[normalizeRef(ref)] = true
	return nil
}

func (f *Fake) ImportImage(ctx context.Context, rootfsTar io.Reader, ref string, changes []string) error {
	f.record("ImportImage", ref)
	if err := f.hold(ctx, "ImportImage"); err != nil {
		return err
	}
	if f.ImportImageFn != nil {
		return f.ImportImageFn(ctx, rootfsTar, ref, changes)
	}
	data, err := io.ReadAll(rootfsTar)
	if err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	f.imported[normalizeRef(ref)] = ImportedImage{RootfsTar: data, Changes: slices.Clone(changes)}
	f.images[normalizeRef(ref)] = true
	return nil
}

// EnsureNetwork creates the network, or re-creates one that differs from
// spec when no container (running or not) uses it, as the engine does.
// RemoveNetwork removes a network nothing is attached to.
func (f *Fake) RemoveNetwork(ctx context.Context, name string) error {
	f.record("RemoveNetwork", name)
	if err := f.hold(ctx, "RemoveNetwork"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	if _, ok := f.networks[name]; !ok {
		return fmt.Errorf("network %s: %w", name, engine.ErrNotFound)
	}
	if users := f.networkUsersLocked(name); len(users) > 0 {
		return fmt.Errorf("network %s: containers %s are attached to it: %w", name, strings.Join(users, ", "), engine.ErrInUse)
	}
	delete(f.networks, name)
	return nil
}

func (f *Fake) EnsureNetwork(ctx context.Context, spec engine.NetworkSpec) (string, error) {
	f.record("EnsureNetwork", spec.Name, spec.Subnet, spec.Gateway, spec.BridgeName)
	if err := f.hold(ctx, "EnsureNetwork"); err != nil {
		return "", err
	}
	if f.EnsureNetworkFn != nil {
		return f.EnsureNetworkFn(ctx, spec)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return "", err
	}
	old, exists := f.networks[spec.Name]
	if exists {
		if networkMatches(old.spec, spec) {
			return old.id, nil
		}
		if users := f.networkUsersLocked(spec.Name); len(users) > 0 {
			return "", fmt.Errorf("network %s has subnet %s, not %s, and containers %s are attached to it: %w",
				spec.Name, old.spec.Subnet, spec.Subnet, strings.Join(users, ", "), engine.ErrInUse)
		}
	}
	want := spec
	want.Options = maps.Clone(spec.Options)
	if want.Subnet == "" {
		want.Subnet = "172.31.0.0/16"
	}
	n := fakeNetwork{id: fakeID("network/" + spec.Name), spec: want}
	if exists {
		n.gen = old.gen + 1
		n.id = fakeID(fmt.Sprintf("network/%s/%d", spec.Name, n.gen))
	}
	f.networks[spec.Name] = n
	return n.id, nil
}

// networkMatches reports whether a network made with have satisfies want,
// whose empty fields match anything.
func networkMatches(have, want engine.NetworkSpec) bool {
	if want.Subnet != "" && !sameSubnet(have.Subnet, want.Subnet) {
		return false
	}
	if want.Gateway != "" && have.Gateway != want.Gateway {
		return false
	}
	if want.BridgeName != "" && have.BridgeName != want.BridgeName {
		return false
	}
	for k, v := range want.Options {
		if got, ok := have.Options[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// networkUsersLocked names the containers whose network mode is the network.
func (f *Fake) networkUsersLocked(name string) []string {
	var users []string
	for _, c := range f.containers {
		if c.spec.NetworkMode == name {
			users = append(users, c.state.Name)
		}
	}
	slices.Sort(users)
	return users
}

func (f *Fake) EnsureVolume(ctx context.Context, name string, labels map[string]string) error {
	f.record("EnsureVolume", name)
	if err := f.hold(ctx, "EnsureVolume"); err != nil {
		return err
	}
	if f.EnsureVolumeFn != nil {
		return f.EnsureVolumeFn(ctx, name, labels)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return err
	}
	if _, ok := f.volumes[name]; !ok {
		f.volumes[name] = maps.Clone(labels)
	}
	return nil
}

// normalizeRef gives a tag-less ref the tag "latest", as the engine does, so
// that "busybox" and "busybox:latest" name the same image.
func normalizeRef(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	lastPart := ref[strings.LastIndex(ref, "/")+1:]
	if strings.Contains(lastPart, ":") {
		return ref
	}
	return ref + ":latest"
}

func sameSubnet(a, b string) bool {
	pa, errA := netip.ParsePrefix(a)
	pb, errB := netip.ParsePrefix(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Masked() == pb.Masked()
}

// fakeID makes an id shaped like the engine's (64 hex digits) from a seed.
func fakeID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])
}
