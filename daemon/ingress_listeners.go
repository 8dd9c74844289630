package daemon

import (
	"context"
	"log/slog"
	"sync"

	"github.com/shoal-dev/shoal/daemon/node/ingress"
)

// serveIngress serves the ingress proxy on --ingress-addr (HTTP) and
// --ingress-tls-addr (HTTPS) until ctx ends, each in a goroutine counted
// in wg. The ports are optional: one already taken is logged, and a host
// with something else on it still runs pods.
func serveIngress(ctx context.Context, wg *sync.WaitGroup, ing *ingress.Proxy, cfg Config, log *slog.Logger) {
	for _, l := range []struct {
		addr  string
		serve func(context.Context, string) error
	}{{cfg.IngressAddr, ing.ListenAndServe}, {cfg.IngressTLSAddr, ing.ListenAndServeTLS}} {
		if l.addr == "" {
			continue
		}
		wg.Go(func() {
			if err := l.serve(ctx, l.addr); err != nil && ctx.Err() == nil {
				log.Error("ingress proxy not serving", "addr", l.addr, "err", err)
			}
		})
	}
}
