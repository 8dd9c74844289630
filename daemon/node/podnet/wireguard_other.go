//go:build !linux

package podnet

import (
	"context"

	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
)

func openWireGuard(context.Context, wireguard.Config) (wgDevice, error) { return nil, ErrUnsupported }
