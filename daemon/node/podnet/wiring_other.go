//go:build !linux

package podnet

import (
	"context"
	"log/slog"
	"net/netip"
)

// BridgeWiring needs Linux; elsewhere every call fails with ErrUnsupported.
type BridgeWiring struct {
	IPAM   *IPAM
	Bridge string
	Log    *slog.Logger
}

func (b *BridgeWiring) Attach(context.Context, string, int) (netip.Addr, error) {
	return netip.Addr{}, ErrUnsupported
}
func (b *BridgeWiring) Address(uid string) (netip.Addr, bool)            { return b.IPAM.Lookup(uid) }
func (b *BridgeWiring) Reserve(uid string) (netip.Addr, error)           { return b.IPAM.Allocate(uid) }
func (b *BridgeWiring) Adopt(uid string, ip netip.Addr) error            { return b.IPAM.Reserve(uid, ip) }
func (b *BridgeWiring) Detach(_ context.Context, uid string) error       { return b.IPAM.Release(uid) }
func (b *BridgeWiring) Cleanup(context.Context, func(string) bool) error { return ErrUnsupported }
func (b *BridgeWiring) Ports() (int, error)                              { return 0, ErrUnsupported }
func EnsurePodBridge(string, netip.Prefix) (netip.Addr, error)           { return netip.Addr{}, ErrUnsupported }
func ReattachPorts(string) (int, error)                                  { return 0, ErrUnsupported }
func RemovePodBridge(string) error                                       { return ErrUnsupported }
func EnsureMasquerade(context.Context, string, netip.Prefix, netip.Prefix) error {
	return ErrUnsupported
}
func RemoveMasquerade(context.Context, string, netip.Prefix) error { return ErrUnsupported }
