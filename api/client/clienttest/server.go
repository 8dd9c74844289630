package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/backup"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/trust/auth"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/registry/admission/ipalloc"
	"github.com/shoal-dev/shoal/registry/admission/podsecurity"
)

// Version is what /version answers as the server's gitVersion.
const Version = "v0.1.0"

// ServiceCIDR is the range Services get their cluster IPs from, the
// agent's default.
const ServiceCIDR = "10.96.0.0/16"

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Server is an agent's API without the agent: the real api/server.Server
// over a real registry.Registry over an in-memory gossip.Store, with the
// agent's admission chain and its authentication and RBAC. What belongs to
// the nodes and the leader (logs, exec, pod shutdown, members, controllers'
// status) is played by the test: see PodTermination, Exec, SetLogs,
// SetMembers, Add and Update. Its exported fields may be set before the
// request they matter to.
type Server struct {
	*httptest.Server

	// Token is the admin's bearer token (the user "admin", bound to
	// cluster-admin, as the founding agent makes it): every request but
	// /healthz, /livez, /readyz and /version must carry it.
	Token string
	// PodTermination is how long the pods' nodes take to stop a deleted
	// pod: a pod bound to a node (spec.nodeName) and deleted with a grace
	// period stays Terminating this long, then its node removes it. Zero
	// removes it as soon as it is marked.
	PodTermination time.Duration
	// Exec runs the command of an exec request, as the pod's node would;
	// nil refuses every exec.
	Exec ExecFunc
	// Dial connects a port-forward to a port of a pod, as the pod's node
	// would; nil refuses every port-forward.
	Dial DialFunc
	// TableNow is the clock the server prints Table cells at (ages); nil
	// is time.Now. CLI tests set their fixed clock, so a table kubectl
	// prints can be compared with what the CLI prints.
	TableNow func() time.Time

	reg *registry.Registry
	tb  testing.TB
	ctx context.Context // ends when the test does

	// seedMu makes one Add at a time; seedAt is the creation time the
	// registry's clock reads while Add stores an object that has one.
	seedMu sync.Mutex
	seedAt atomic.Pointer[time.Time]

	mu         sync.Mutex
	requests   []Request
	warnings   []string
	logs       map[string]string
	members    api.MemberList
	placeImage PlaceImageFunc
	streams    map[*watchStream]struct{}
	builder    engine.ImageBuilder
	tops       map[string]*api.PodTop

	podMetrics  []api.PodMetrics
	nodeMetrics []api.NodeMetrics
}

// NewServer starts a server that stops when the test ends. The namespaces
// "default" and "shoal-system" exist, as on a new cluster.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	st, err := gossip.Open("", "clienttest", nil)
	if err != nil {
		tb.Fatalf("clienttest: opening the store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	s := &Server{reg: registry.New(st), tb: tb, ctx: ctx, logs: map[string]string{}, streams: map[*watchStream]struct{}{}}
	s.reg.SetClock(s.now)
	_, cidr, _ := net.ParseCIDR(ServiceCIDR)
	s.reg.AddAdmission(ipalloc.NewAllocator(cidr).Admit)
	s.reg.AddAdmission(podsecurity.New(podsecurity.Baseline, nil).Admit)
	policy, err := s.bootstrap(ctx)
	if err != nil {
		tb.Fatalf("clienttest: %v", err)
	}
	go policy.Run(ctx)
	go s.runNodes(ctx)
	apiServer := server.New(server.Config{Store: s.reg, PodIO: podIO{s}, Metrics: metricsSource{s}, Version: Version,
		Authenticator: auth.NewAuthenticator(policy), Authorizer: auth.NewAuthorizer(policy),
		Extra: append([]server.Route{s.membersRoute(), s.buildRoute(), s.nodeImagesRoute()}, backup.Routes(backup.RouteConfig{
			Store: st, Cluster: func() string { return "sha256:clienttest" }, Agent: "clienttest", Validate: s.reg.ValidateRecord,
			Sensitive: func(key string) bool {
				return strings.HasPrefix(key, "o/secrets/") || strings.HasPrefix(key, "o/tokens/")
			},
		})...), Now: s.tableNow})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, apiServer) }))
	tb.Cleanup(s.Close)
	return s
}

// bootstrap makes what a founding agent makes: the namespaces, the
// built-in roles, and the admin's token and binding.
func (s *Server) bootstrap(ctx context.Context) (*auth.Cache, error) {
	for _, ns := range []*api.Namespace{
		{ObjectMeta: api.ObjectMeta{Name: "default"}},
		{ObjectMeta: api.ObjectMeta{Name: podsecurity.ExemptNamespace,
			Labels: map[string]string{api.LabelPodSecurityEnforce: api.PodSecurityPrivileged}}},
	} {
		if _, err := s.reg.Create(ctx, ns); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns.Name, err)
		}
	}
	if err := auth.EnsureBuiltins(ctx, s.reg); err != nil {
		return nil, err
	}
	token, hash, err := api.NewBearerToken(auth.AdminUser)
	if err != nil {
		return nil, err
	}
	s.Token = token
	if _, err := s.reg.Create(ctx, &api.Token{ObjectMeta: api.ObjectMeta{Name: auth.AdminUser}, Spec: api.TokenSpec{Hash: hash}}); err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if _, err := s.reg.Create(ctx, auth.AdminBinding()); err != nil {
		return nil, fmt.Errorf("admin binding: %w", err)
	}
	return auth.NewCache(ctx, s.reg, slog.New(slog.DiscardHandler))
}

func (s *Server) tableNow() time.Time {
	if s.TableNow != nil {
		return s.TableNow()
	}
	return time.Now()
}

// now is the registry's clock: the seeded creation time during Add.
func (s *Server) now() time.Time {
	if t := s.seedAt.Load(); t != nil {
		return *t
	}
	return time.Now()
}

// Registry returns the registry the server serves, for what a test does
// as a controller or a node would (a status, a binding).
func (s *Server) Registry() *registry.Registry { return s.reg }

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SetWarnings makes every answer carry these warnings as Warning headers,
// besides those the server adds itself.
func (s *Server) SetWarnings(w ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings = w
}

// maxRecorded bounds the body kept of one request; the server reads the
// rest as sent.
const maxRecorded = 16 << 20

// serve records the request, adds the test's warnings, follows watch
// streams, and hands the request to the API server.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecorded))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body})
	for _, text := range s.warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", text))
	}
	s.mu.Unlock()
	if !isWatch(r) {
		next.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ws := &watchStream{ResponseWriter: w, s: s, access: server.RequestAccess(r).ResourceAttributes, cancel: cancel}
	defer s.closeStream(ws)
	next.ServeHTTP(ws, r.WithContext(ctx))
	ws.end()
}

type readCloser struct {
	io.Reader
	io.Closer
}
