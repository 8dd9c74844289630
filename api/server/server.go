package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/fieldmanager"
	"github.com/shoal-dev/shoal/api/ui"
)

// Store is the object store the API reads and writes.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
	// Apply creates or updates all objects atomically and says what it did
	// with each ("created", "configured", "unchanged").
	Apply(ctx context.Context, objs []api.Object) ([]string, error)
	// ApplyPrune is Apply that also deletes the objects of prune in the
	// same atomic step, each only while it is the one listed (same uid)
	// and matches sel; it says what it did with each ("pruned", or ""
	// for one gone or changed meanwhile).
	ApplyPrune(ctx context.Context, objs, prune []api.Object, sel api.Selector) (actions, pruned []string, err error)
}

// PodIO streams a pod's logs and runs commands in it. Locate says where a
// pod's node serves these: nil for here, else the agent to forward the
// request to.
type PodIO interface {
	Locate(ctx context.Context, ns, pod string) (*Target, error)
	Logs(ctx context.Context, ns, pod string, opts api.LogOptions, w io.Writer) error
	Exec(ctx context.Context, ns, pod string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (exitCode int, err error)
}

// PodTopper is the optional part of PodIO that lists the processes of a
// pod's container (the pods/top subresource).
type PodTopper interface {
	Top(ctx context.Context, ns, pod, container string) (*api.PodTop, error)
}

// PodAttacher is the optional part of PodIO that joins the standard
// streams of a container's main process (the pods/attach subresource).
// opts.Command is empty; the TTY is the container's own.
type PodAttacher interface {
	Attach(ctx context.Context, ns, pod string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) error
}

// PodPortForwarder is the optional part of PodIO that opens a connection
// to a port of a pod (the pods/portforward subresource).
type PodPortForwarder interface {
	DialPod(ctx context.Context, ns, pod string, port uint16) (net.Conn, error)
}

// Target is another agent that serves a request: the URL the request's
// path is appended to, and the transport that reaches it (mutual TLS
// between agents).
type Target struct {
	URL       *url.URL
	Transport http.RoundTripper
}

// Route is one more route of Config.Extra: an exact path and method.
type Route struct {
	Method  string
	Path    string
	Handler http.HandlerFunc
	// Access, when set, says what the caller must be allowed to do for
	// the request, instead of the path (a non-resource request, which only
	// administrators are granted): every request returned must be allowed.
	// An error refuses the request as it is (a 400 naming what is wrong).
	Access func(r *http.Request) ([]api.AccessRequest, error)
}

// Config sets up a Server.
type Config struct {
	Store   Store
	PodIO   PodIO
	Log     *slog.Logger
	Version string
	// MaxBodyBytes bounds one object's request body; apply bodies may be
	// four times as large.
	MaxBodyBytes int64
	// Limits bounds streams, objects per apply, websocket messages and the
	// time a request may take; zero fields take DefaultLimits.
	Limits Limits
	// AllowedHosts are the names, besides IP addresses and localhost, that
	// a request's Host header may carry: the agent's node name, the host's
	// name, names given with --api-allowed-hosts. Any other name is refused
	// (DNS rebinding).
	AllowedHosts []string
	// ClientKey names the client a request counts against for per-client
	// limits. Default: RemoteIP.
	ClientKey func(*http.Request) string
	// Ready reports whether the agent is ready to serve (for /readyz).
	Ready func() error
	// Extra are more routes (agent info, metrics). They are authenticated
	// and authorised like every route: by path (non-resource requests),
	// unless they name a resource.
	Extra []Route
	// Authenticator and Authorizer guard every request but /healthz,
	// /livez, /readyz and /version. The agent always sets both; without
	// them (unit tests of the handlers) every request is allowed.
	Authenticator Authenticator
	Authorizer    Authorizer
	// Metrics serves the resource metrics API (metrics.k8s.io); nil
	// leaves the API out of the routes and discovery.
	Metrics ResourceMetrics
	// Now is the clock of the Table answers' cells (ages, durations);
	// nil is time.Now. Tests fix it.
	Now func() time.Time
	// Observer, when set, is told of every request answered (metrics).
	Observer RequestObserver
	// UI serves the web dashboard's assets under /ui (api/ui); nil leaves
	// it out. The assets hold no data: they are served without a token,
	// and the page reads everything through the API with the user's.
	UI http.Handler
}

// DefaultMaxBodyBytes is Kubernetes' limit for one object.
const DefaultMaxBodyBytes = 3 << 20

// Server is the HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	router  *mux.Router
	hosts   *hostGuard
	watches *concurrency
	streams *concurrency
	// access holds the Access of the Extra routes that have one, by path.
	access map[string]func(*http.Request) ([]api.AccessRequest, error)
	// discovery and openAPI describe the routes; built once by routes().
	discovery *discovery
	openAPI   *openAPIDocs
	// fields is server-side apply, and the tracking of managedFields.
	fields *fieldmanager.Manager
	// labels name requests' resources for the Observer.
	labels resourceLabels

	watchesCut, watchesExpired atomic.Uint64 // WatchStats

	evictions sync.Mutex // one eviction at a time: each reads and spends a budget
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ClientKey == nil {
		cfg.ClientKey = RemoteIP
	}
	cfg.Limits = cfg.Limits.withDefaults()
	l := cfg.Limits
	s := &Server{cfg: cfg, log: cfg.Log.With("component", "api"), router: mux.NewRouter(),
		hosts:   newHostGuard(cfg.AllowedHosts),
		watches: newConcurrency("watches", l.MaxWatches, l.MaxWatchesPerClient),
		streams: newConcurrency("log and exec streams", l.MaxStreams, l.MaxStreamsPerClient),
		fields:  fieldmanager.New(api.Kinds), labels: newResourceLabels()}
	s.routes()
	return s
}

// ServeHTTP serves one request, turning any panic into a 500 Status.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if s.cfg.Observer != nil {
		// Deferred first, so it runs last: after a panic's 500 is written.
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		defer s.observe(rec, r, start)
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(w, api.NewInternal(fmt.Errorf("unexpected server error")))
		}
	}()
	if err := s.hosts.check(r); err != nil {
		s.refuse(w, r, err)
		return
	}
	if s.cfg.UI != nil && ui.IsPath(r.URL.Path) {
		s.cfg.UI.ServeHTTP(w, r)
		return
	}
	// A plain answer must be written within WriteTimeout of the request's
	// start; streams extend the deadline write by write.
	_ = http.NewResponseController(w).SetWriteDeadline(start.Add(s.cfg.Limits.WriteTimeout))
	if err := checkContentType(r); err != nil {
		s.refuse(w, r, err)
		return
	}
	r, ok := s.authenticate(w, r)
	if !ok || !s.authorizeRequest(w, r) {
		return
	}
	r, err := s.protobufBodyAsJSON(w, r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	// Admission steps below may accept a write with warnings (Pod Security's
	// warn level): they reach the client as Warning headers.
	r = r.WithContext(api.WithWarningSink(r.Context(), func(msg string) {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}))
	s.router.ServeHTTP(w, r)
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery, "took", time.Since(start))
}

// refuse answers a request a guard refused, and says so in the debug log.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr, "err", err)
	writeError(w, err)
}

func (s *Server) routes() {
	r := s.router
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound,
			fmt.Sprintf("the server could not find the requested resource (%s %s)", r.Method, r.URL.Path)))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow,
			fmt.Sprintf("method %s is not supported on %s", r.Method, r.URL.Path)))
	})
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }).Methods(http.MethodGet)
	r.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)
	r.HandleFunc("/version", s.version).Methods(http.MethodGet)
	r.HandleFunc("/shoal/v1/apply", s.apply).Methods(http.MethodPost)
	r.HandleFunc("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", s.selfSubjectAccessReview).Methods(http.MethodPost)
	r.HandleFunc("/apis/authentication.k8s.io/v1/selfsubjectreviews", s.selfSubjectReview).Methods(http.MethodPost)
	// shoal has no custom resources; kubectl's validation lists them to
	// tell a kind it does not know from a mistake, so the list is empty.
	r.HandleFunc("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "CustomResourceDefinitionList", "apiVersion": "apiextensions.k8s.io/v1",
			"metadata": map[string]any{"resourceVersion": "0"}, "items": []any{}})
	}).Methods(http.MethodGet)
	for _, k := range api.Kinds {
		s.kindRoutes(k)
	}
	s.metricsRoutes()
	s.hpaV1Routes()
	s.access = map[string]func(*http.Request) ([]api.AccessRequest, error){}
	for _, e := range s.cfg.Extra {
		r.HandleFunc(e.Path, e.Handler).Methods(e.Method)
		if e.Access != nil {
			s.access[e.Path] = e.Access
		}
	}
	// Last: discovery and OpenAPI describe the routes registered above.
	resources := servedResources(r)
	s.discovery = newDiscovery(resources)
	s.discoveryRoutes()
	s.openAPIRoutes(resources)
}

func (s *Server) kindRoutes(k *api.Kind) {
	r := s.router
	h := &kindHandler{s: s, k: k}
	all := k.CollectionPath("")
	if k.Namespaced {
		coll := k.CollectionPath("{namespace}")
		obj := coll + "/{name}"
		r.HandleFunc(all, h.list).Methods(http.MethodGet)
		r.HandleFunc(coll, h.list).Methods(http.MethodGet)
		r.HandleFunc(coll, h.create).Methods(http.MethodPost)
		r.HandleFunc(coll, h.deleteCollection).Methods(http.MethodDelete)
		s.objectRoutes(h, obj)
		return
	}
	r.HandleFunc(all, h.list).Methods(http.MethodGet)
	r.HandleFunc(all, h.create).Methods(http.MethodPost)
	r.HandleFunc(all, h.deleteCollection).Methods(http.MethodDelete)
	s.objectRoutes(h, all+"/{name}")
}

func (s *Server) objectRoutes(h *kindHandler, obj string) {
	r := s.router
	r.HandleFunc(obj, h.get).Methods(http.MethodGet)
	r.HandleFunc(obj, h.replace).Methods(http.MethodPut)
	r.HandleFunc(obj, h.patch).Methods(http.MethodPatch)
	r.HandleFunc(obj, h.delete).Methods(http.MethodDelete)
	if h.k.HasStatus {
		r.HandleFunc(obj+"/status", h.get).Methods(http.MethodGet)
		r.HandleFunc(obj+"/status", h.replaceStatus).Methods(http.MethodPut)
		r.HandleFunc(obj+"/status", h.patchStatus).Methods(http.MethodPatch)
	}
	if h.k == api.KindDeployment || h.k == api.KindReplicaSet || h.k == api.KindStatefulSet || h.k == api.KindReplicationController {
		r.HandleFunc(obj+"/scale", h.getScale).Methods(http.MethodGet)
		r.HandleFunc(obj+"/scale", h.replaceScale).Methods(http.MethodPut)
		r.HandleFunc(obj+"/scale", h.patchScale).Methods(http.MethodPatch)
	}
	if h.k == api.KindPod {
		r.HandleFunc(obj+"/log", s.podLog).Methods(http.MethodGet)
		r.HandleFunc(obj+"/exec", s.podExec).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc(obj+"/attach", s.podAttach).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc(obj+"/portforward", s.podPortForward).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc(obj+"/top", s.podTop).Methods(http.MethodGet)
		r.HandleFunc(obj+"/binding", h.bind).Methods(http.MethodPost)
		r.HandleFunc(obj+"/eviction", s.podEviction).Methods(http.MethodPost)
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			writeError(w, api.NewUnavailable("not ready: "+err.Error()))
			return
		}
	}
	io.WriteString(w, "ok")
}

// VersionInfo is the body of /version.
type VersionInfo struct {
	GitVersion string `json:"gitVersion"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, VersionInfo{GitVersion: s.cfg.Version, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH})
}

// coded is any error that knows its HTTP status.
type coded interface{ Code() int }

// writeError is the one place errors become HTTP answers.
func writeError(w http.ResponseWriter, err error) {
	var se *api.StatusError
	if !errors.As(err, &se) {
		var c coded
		code := http.StatusInternalServerError
		if errors.As(err, &c) {
			code = c.Code()
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
			se = api.NewStatusError(code, api.ReasonTimeout, err.Error())
		} else {
			se = api.NewStatusError(code, api.ReasonInternalError, err.Error())
		}
	}
	if d := se.ErrStatus.Details; d != nil && d.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfterSeconds)))
	}
	writeJSON(w, se.Code(), se.ErrStatus)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
