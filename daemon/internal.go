package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/node/imagemove"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
)

// The agent-to-agent endpoints, served on the gossip port over TLS (see
// gossip/streams.go). The join protocol answers anyone (the token is the
// credential); every other path requires a node certificate of this
// cluster's CA.
const (
	internalPrefix = "/shoal/v1/internal/"
	helloPath      = internalPrefix + "hello"
	forwardPrefix  = internalPrefix + "forward"
)

// hello is what an agent answers another that starts: who it is and the
// gossip keyring, so that an agent that was away during a key rotation
// can talk again.
type hello struct {
	Name    string           `json:"name"`
	Keyring identity.Keyring `json:"keyring"`
}

// internalHandler routes the internal endpoints.
func internalHandler(name string, auth authority, cl *gossip.Cluster, apiHandler http.Handler, saveImage, usage http.HandlerFunc, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	identity.NewJoinHandler(auth, 0, log).Register(mux)
	nodes := http.NewServeMux()
	nodes.Handle(gossip.PullPath, cl.Handler())
	nodes.Handle(gossip.DigestPath, cl.Handler())
	nodes.HandleFunc("GET "+helloPath, func(w http.ResponseWriter, _ *http.Request) {
		kr, err := auth.Keyring()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(hello{Name: name, Keyring: *kr})
	})
	nodes.Handle(forwardPrefix+"/", forwarded(apiHandler))
	// Other agents fetch images of this engine (daemon/node/imagemove).
	nodes.HandleFunc("GET "+imagemove.SavePath, saveImage)
	// Other agents gather this node's resource usage (metrics.k8s.io).
	nodes.HandleFunc("GET "+usagePath, usage)
	mux.Handle(internalPrefix, requireNode(nodes, log))
	return mux
}

// requireNode lets through only requests made with a node certificate of
// this cluster.
func requireNode(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identity.PeerNode(r.TLS) == "" {
			log.Warn("refused an internal request without a node certificate of this cluster", "from", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "this endpoint serves the agents of this cluster only: a node certificate is required", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// forwarded serves a request another agent forwarded on a user's behalf:
// the API handles it as that user, so that this agent enforces the same
// permissions.
func forwarded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get(server.ForwardedUserHeader)
		if user == "" {
			http.Error(w, "a forwarded request names its user", http.StatusBadRequest)
			return
		}
		u := &api.UserInfo{Username: user, Groups: r.Header.Values(server.ForwardedGroupHeader)}
		r2 := r.Clone(server.WithUser(r.Context(), u))
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, forwardPrefix)
		r2.URL.RawPath = ""
		r2.Header.Del(server.ForwardedUserHeader)
		r2.Header.Del(server.ForwardedGroupHeader)
		r2.Header.Del("Authorization")
		next.ServeHTTP(w, r2)
	})
}

// serveInternal serves the internal endpoints until ctx ends.
func serveInternal(ctx context.Context, l net.Listener, live *identity.Live, h http.Handler, log *slog.Logger) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: handshakeLog(log)}
	tl := tls.NewListener(l, live.InternalServerConfig())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// handshakeLog turns net/http's error log (refused TLS handshakes, mostly)
// into one warning line each, rate-limited.
func handshakeLog(l *slog.Logger) *log.Logger {
	return log.New(&limitedWriter{log: l, every: time.Second}, "", 0)
}

type limitedWriter struct {
	log   *slog.Logger
	every time.Duration
	last  time.Time
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if time.Since(w.last) >= w.every {
		w.last = time.Now()
		w.log.Warn("refused a connection: " + strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// peerClient is an HTTP client that calls other agents over mutual TLS,
// accepting only a certificate of this cluster (of the named node, when
// a name is given).
func peerClient(live *identity.Live, peer string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: live.ClientConfig(peer),
		Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, TLSHandshakeTimeout: 10 * time.Second}}
}

// sayHello calls an agent the cluster knows to check that it is of the
// same cluster and to learn the current gossip keyring. An agent of
// another cluster is a fatal error: an agent belongs to one cluster.
func sayHello(ctx context.Context, live *identity.Live, addr string) (*hello, error) {
	c := peerClient(live, "", 10*time.Second)
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+helloPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", addr, resp.Status, strings.TrimSpace(string(b)))
	}
	var h hello
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if _, err := h.Keyring.Decode(); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return &h, nil
}

// isForeignCluster reports a TLS failure that means the peer belongs to
// another cluster.
func isForeignCluster(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not signed by this cluster's CA")
}

// forwardTarget is where the agent of another node serves a forwarded
// request: its internal endpoint on its gossip address.
func forwardTarget(gossipAddr string) *url.URL {
	return &url.URL{Scheme: "https", Host: gossipAddr, Path: forwardPrefix}
}
