package clienttest

import (
	"context"
	"net"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

// DialFunc opens a connection to a port of a pod, as the pod's node would.
type DialFunc func(ctx context.Context, ns, pod string, port uint16) (net.Conn, error)

var _ server.PodPortForwarder = podIO{}

// DialPod serves port-forward with the Server's Dial; nil refuses it.
func (p podIO) DialPod(ctx context.Context, ns, pod string, port uint16) (net.Conn, error) {
	if p.s.Dial == nil {
		return nil, api.NewBadRequest("port-forward is not set up on this test server (set Server.Dial)")
	}
	return p.s.Dial(ctx, ns, pod, port)
}
