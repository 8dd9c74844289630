package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// ListenAndServe serves the proxy on addr until ctx ends, then shuts down
// gracefully (see Serve).
func (p *Proxy) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ingress: listen on %s: %w", addr, err)
	}
	return p.Serve(ctx, ln)
}

// ListenAndServeTLS serves the proxy over HTTPS on addr until ctx ends
// (see ServeTLS).
func (p *Proxy) ListenAndServeTLS(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ingress: listen on %s: %w", addr, err)
	}
	return p.ServeTLS(ctx, ln)
}

// ServeTLS serves the proxy over HTTPS on ln until ctx ends, as Serve
// does over HTTP: the same routes, with X-Forwarded-Proto https. Each
// handshake gets the certificate of the host it names (SNI) from the
// Ingresses' spec.tls, else the default certificate.
func (p *Proxy) ServeTLS(ctx context.Context, ln net.Listener) error {
	if p.defCert.Load() == nil {
		c, err := defaultCertificate()
		if err != nil {
			ln.Close()
			return err
		}
		p.defCert.CompareAndSwap(nil, c)
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: p.certificate,
	}
	return p.serve(ctx, ln, cfg)
}

// certificate chooses the certificate of a handshake.
func (p *Proxy) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := p.certs.Load().pick(hello.ServerName); c != nil {
		p.stats.tlsOwn.Add(1)
		return c, nil
	}
	p.stats.tlsDefault.Add(1)
	return p.defCert.Load(), nil
}

// Serve serves the proxy on ln until ctx ends. Then it stops accepting,
// lets requests in flight finish for Config.ShutdownTimeout, ends what is
// left (upgraded connections included) and returns nil.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	return p.serve(ctx, ln, nil)
}

// serve serves HTTP on ln, or HTTPS with tlsCfg.
func (p *Proxy) serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	// Requests outlive ctx during the grace period; reqCancel ends them.
	reqCtx, reqCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer reqCancel()
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.ClientIdleTimeout,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		TLSConfig:         tlsCfg,
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates come from GetCertificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	p.log.Info("ingress proxy listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil)
	select {
	case err := <-errc:
		return fmt.Errorf("ingress: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		p.log.Warn("ingress requests still running at shutdown; closing them", "err", err)
	}
	// Hijacked connections are not Shutdown's to wait for: ending their
	// request context closes them.
	reqCancel()
	if err := srv.Close(); err != nil {
		p.log.Debug("closing ingress server", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ingress: serve on %s: %w", ln.Addr(), err)
	}
	p.transport.CloseIdleConnections()
	p.log.Info("ingress proxy stopped", "addr", ln.Addr().String())
	return nil
}
