package podnet

import (
	"context"

	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
)

func openWireGuard(ctx context.Context, cfg wireguard.Config) (wgDevice, error) {
	t, err := wireguard.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return t, nil
}
