package imagebuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Config sets up a Handler.
type Config struct {
	// Builder returns the engine's builder: nil while the agent has no
	// engine yet (the request is refused as unavailable), or when its
	// engine cannot build.
	Builder func() engine.ImageBuilder
	// EnforceLevel returns the Pod Security level a namespace enforces
	// (its label, else the cluster's default). A build's steps run as root
	// with the engine's default capabilities, which is baseline: a
	// namespace at restricted refuses builds. Nil: no check (tests).
	EnforceLevel func(ctx context.Context, ns string) (string, error)
	Log          *slog.Logger
	// MaxContextBytes bounds a build context (api.MaxBuildContextBytes
	// when zero).
	MaxContextBytes int64
	// MaxBuilds bounds the builds this agent runs at once (2 when zero);
	// more are refused with 429.
	MaxBuilds int
	// Timeout bounds one build (30 minutes when zero).
	Timeout time.Duration
	// IdleTimeout is how long the context upload or one write of the
	// answer may go without progress (a minute when zero).
	IdleTimeout time.Duration
}

// Handler serves api.BuildPath.
type Handler struct {
	cfg   Config
	slots chan struct{}
}

// New makes a Handler.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxContextBytes <= 0 {
		cfg.MaxContextBytes = api.MaxBuildContextBytes
	}
	if cfg.MaxBuilds <= 0 {
		cfg.MaxBuilds = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Minute
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	cfg.Log = cfg.Log.With("component", "imagebuild")
	return &Handler{cfg: cfg, slots: make(chan struct{}, cfg.MaxBuilds)}
}

// Route is the endpoint, authorised as creating pods in the namespace the
// request names.
func (h *Handler) Route() server.Route {
	return server.Route{Method: http.MethodPost, Path: api.BuildPath, Handler: h.ServeHTTP, Access: Access}
}

// Access is what a build request needs: create pods in its namespace.
func Access(r *http.Request) ([]api.AccessRequest, error) {
	o, err := ParseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	return []api.AccessRequest{{ResourceAttributes: &api.ResourceAttributes{
		Namespace: o.Namespace, Verb: "create", Version: "v1", Resource: "pods"}}}, nil
}

// ServeHTTP checks the options, then builds while the context arrives and
// streams the build's output.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o, err := ParseQuery(r.URL.Query())
	if err != nil {
		writeStatus(w, api.NewBadRequest(err.Error()))
		return
	}
	if r.ContentLength > h.cfg.MaxContextBytes {
		writeStatus(w, tooLarge(h.cfg.MaxContextBytes))
		return
	}
	if h.cfg.EnforceLevel != nil {
		level, err := h.cfg.EnforceLevel(r.Context(), o.Namespace)
		if err != nil {
			writeStatus(w, api.NewInternal(fmt.Errorf("build: reading namespace %s: %w", o.Namespace, err)))
			return
		}
		if level == api.PodSecurityRestricted {
			writeStatus(w, api.NewStatusError(http.StatusForbidden, api.ReasonForbidden, fmt.Sprintf(
				"build: namespace %q enforces Pod Security %q, and a build's steps run as root with the engine's default capabilities (baseline); "+
					"build for a namespace at baseline or privileged (label %s)", o.Namespace, level, api.LabelPodSecurityEnforce)))
			return
		}
	}
	var b engine.ImageBuilder
	if h.cfg.Builder != nil {
		b = h.cfg.Builder()
	}
	if b == nil {
		writeStatus(w, api.NewUnavailable("this agent has no engine that builds images yet; try again once it is ready"))
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		writeStatus(w, api.NewTooManyRequests(fmt.Sprintf("this agent already runs %d builds; try again later", h.cfg.MaxBuilds), 5))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	rc := http.NewResponseController(w)
	out := &messages{w: w, rc: rc, idle: h.cfg.IdleTimeout}
	if o.IfMissing {
		if id, ok := h.existing(ctx, b, o.Tags); ok {
			out.send(api.BuildMessage{ImageID: id, Existing: true})
			return
		}
	}
	body := &idleReader{r: http.MaxBytesReader(w, r.Body, h.cfg.MaxContextBytes), rc: rc, idle: h.cfg.IdleTimeout}

	// The context passes the checks on its way to the engine; a refused
	// one stops the engine's read, and the refusal is what the caller sees.
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		err := checkContext(body, pw, o.Dockerfile)
		pw.CloseWithError(err)
		checked <- err
	}()
	id, buildErr := b.BuildImage(ctx, pr, engine.BuildSpec{Tags: o.Tags, Dockerfile: o.Dockerfile, Target: o.Target,
		BuildArgs: o.BuildArgs, Labels: o.Labels, NoCache: o.NoCache, Pull: o.Pull},
		func(line string) { out.send(api.BuildMessage{Stream: line}) })
	_ = pr.CloseWithError(errors.New("build ended")) // unblocks the checker if the engine stopped reading
	checkErr := <-checked
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(checkErr, &tooBig):
		out.fail(tooLarge(h.cfg.MaxContextBytes))
	case errors.Is(checkErr, ErrContext):
		// The refusal is why the engine's read failed.
		out.fail(api.NewBadRequest(checkErr.Error()))
	case buildErr != nil:
		h.cfg.Log.Debug("build failed", "tags", o.Tags, "namespace", o.Namespace, "err", buildErr)
		out.fail(api.NewStatusError(http.StatusUnprocessableEntity, api.ReasonInvalid, buildErr.Error()))
	case checkErr != nil:
		// The engine built without reading the whole context (a
		// Dockerfile that needs no more of it): still, what it read passed.
		h.cfg.Log.Debug("context not read to its end", "tags", o.Tags, "err", checkErr)
		fallthrough
	default:
		h.cfg.Log.Info("image built", "tags", o.Tags, "namespace", o.Namespace, "id", id, "user", userName(r))
		out.send(api.BuildMessage{ImageID: id})
	}
}

// existing returns the image every tag names, when the engine has them all
// and they are one image.
func (h *Handler) existing(ctx context.Context, b engine.ImageBuilder, tags []string) (string, bool) {
	var id string
	for _, t := range tags {
		info, err := b.InspectImage(ctx, t)
		if err != nil || (id != "" && info.ID != id) {
			return "", false
		}
		id = info.ID
	}
	return id, id != ""
}

func tooLarge(limit int64) *api.StatusError {
	return api.NewStatusError(http.StatusRequestEntityTooLarge, api.ReasonTooLarge,
		fmt.Sprintf("build: the context is larger than %s; leave out what the build does not need with a .dockerignore", sizeText(limit)))
}

func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func userName(r *http.Request) string {
	if u := server.UserFrom(r.Context()); u != nil {
		return u.Username
	}
	return ""
}

// messages writes the answer: before the first message, an error is a
// Status with its code; after it, an error is the last message.
type messages struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	idle    time.Duration
	started bool
	broken  bool
}

func (m *messages) send(msg api.BuildMessage) {
	if m.broken {
		return
	}
	if !m.started {
		m.started = true
		m.w.Header().Set("Content-Type", "application/json")
		m.w.WriteHeader(http.StatusOK)
	}
	_ = m.rc.SetWriteDeadline(time.Now().Add(m.idle))
	data, _ := json.Marshal(msg)
	if _, err := m.w.Write(append(data, '\n')); err != nil {
		m.broken = true // the caller left; the build's context ends with the request
		return
	}
	_ = m.rc.Flush()
}

func (m *messages) fail(se *api.StatusError) {
	if !m.started {
		writeStatus(m.w, se)
		return
	}
	m.send(api.BuildMessage{Error: se.ErrStatus.Message})
}

func writeStatus(w http.ResponseWriter, se *api.StatusError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(se.Code())
	_ = json.NewEncoder(w).Encode(se.ErrStatus)
}

// idleReader extends the request's read deadline at every read, so that
// a large context may take as long as it keeps arriving.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}
