//go:build !linux

package podnet

import "net/netip"

// UplinkMTU needs Linux.
func UplinkMTU(netip.Addr) (int, error) { return 0, ErrUnsupported }

// SetPodMTU needs Linux.
func SetPodMTU(string, int) error { return ErrUnsupported }
