package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// server holds the HTTP server's toggles. Liveness and readiness can be
// flipped over HTTP so tests can drive probes without restarting anything.
type server struct {
	version   string
	hostname  string
	readyFile string // when set, mirrors readiness; removing it makes /readyz fail

	failing  atomic.Bool // set by /fail: /healthz answers 500
	notReady atomic.Bool // set by /ready/off: /readyz answers 503

	log       *log.Logger     // one line per request
	environ   func() []string // the environment shown by /env
	exit      func(code int)  // ends the process for /exit
	exitDelay time.Duration   // lets the /exit reply reach the client first
	caller    *http.Client    // makes the requests of /call
}

func newServer(readyFile string, out io.Writer) *server {
	return &server{
		version:   version,
		hostname:  hostname(),
		readyFile: readyFile,
		log:       log.New(out, "", log.LstdFlags|log.Lmicroseconds|log.LUTC),
		environ:   os.Environ,
		exit:      os.Exit,
		exitDelay: 100 * time.Millisecond,
		caller:    newHTTPClient(5*time.Second, false, 1),
	}
}

// setReady flips readiness and keeps the ready file, if any, in step so
// exec probes ("cat /tmp/ready") agree with HTTP ones.
func (s *server) setReady(ready bool) error {
	s.notReady.Store(!ready)
	if s.readyFile == "" {
		return nil
	}
	if ready {
		if err := os.WriteFile(s.readyFile, []byte("ready\n"), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
		return nil
	}
	if err := os.Remove(s.readyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove ready file: %w", err)
	}
	return nil
}

// ready reports readiness: the toggle is on and the ready file, if used,
// still exists.
func (s *server) ready() bool {
	if s.notReady.Load() {
		return false
	}
	if s.readyFile == "" {
		return true
	}
	_, err := os.Stat(s.readyFile)
	return err == nil
}

// routes returns the server's handler, with request logging.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", s.handleRoot)
	mux.HandleFunc("/healthz", s.handleHealthz)
	mux.HandleFunc("/fail", s.handleToggle(func() error { s.failing.Store(true); return nil }))
	mux.HandleFunc("/recover", s.handleToggle(func() error { s.failing.Store(false); return nil }))
	mux.HandleFunc("/readyz", s.handleReadyz)
	mux.HandleFunc("/ready/on", s.handleToggle(func() error { return s.setReady(true) }))
	mux.HandleFunc("/ready/off", s.handleToggle(func() error { return s.setReady(false) }))
	mux.HandleFunc("/hostname", s.handleText(func() string { return s.hostname }))
	mux.HandleFunc("/version", s.handleText(func() string { return s.version }))
	mux.HandleFunc("/env", s.handleText(func() string { return strings.Join(sortedEnv(s.environ()), "\n") }))
	mux.HandleFunc("/file", s.handleFile)
	mux.HandleFunc("/bytes", s.handleBytes)
	mux.HandleFunc("/exit", s.handleExit)
	mux.HandleFunc("/echo", s.handleEcho)
	mux.HandleFunc("/call", s.handleCall)
	return s.logRequests(mux)
}

func (s *server) handleRoot(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "testapp version=%s hostname=%s remote=%s\n", s.version, s.hostname, r.RemoteAddr)
}

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if s.failing.Load() {
		http.Error(w, "failing", http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// handleToggle runs a state change and answers "ok".
func (s *server) handleToggle(change func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := change(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// handleText answers with one value and a newline.
func (s *server) handleText(value func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, value())
	}
}

// maxBytes caps /bytes: enough for throughput runs, not a memory or disk
// matter (the body is generated).
const maxBytes = 1 << 30

// handleBytes answers ?n=N with N zero bytes, generated as they are sent,
// for throughput measurements.
func (s *server) handleBytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > maxBytes {
		http.Error(w, fmt.Sprintf("want ?n=BYTES, 0 to %d", maxBytes), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	io.CopyN(w, zeros{}, n)
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (s *server) handleFile(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "missing ?path=", http.StatusBadRequest)
		return
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	}
}

// handleExit replies, then ends the process shortly after so the reply
// reaches the client.
func (s *server) handleExit(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.URL.Query().Get("code"))
	if err != nil || code < 0 || code > 255 {
		http.Error(w, "want ?code=0..255", http.StatusBadRequest)
		return
	}
	w.Header().Set("Connection", "close")
	fmt.Fprintf(w, "exiting with code %d\n", code)
	http.NewResponseController(w).Flush()
	s.log.Printf("exit requested, code %d", code)
	time.AfterFunc(s.exitDelay, func() { s.exit(code) })
}

// callLimit bounds the body /call relays.
const callLimit = 1 << 20

// handleCall GETs the http URL in ?url= and relays its status and body, so
// a test reaches one service from another, by the name the project gives
// it, through a single published port. A URL that cannot be reached is a
// 502 naming the error.
func (s *server) handleCall(w http.ResponseWriter, r *http.Request) {
	target, err := url.Parse(r.URL.Query().Get("url"))
	if err != nil || target.Scheme != "http" || target.Host == "" {
		http.Error(w, "want ?url=http://HOST[:PORT]/PATH", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := s.caller.Do(req)
	if err != nil {
		http.Error(w, "call: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, callLimit))
}

// echoReply is what /echo returns: enough to see how a request was routed.
type echoReply struct {
	Method        string            `json:"method"`
	URI           string            `json:"uri"`
	Host          string            `json:"host"`
	RemoteAddr    string            `json:"remote_addr"`
	XForwardedFor string            `json:"x_forwarded_for"`
	Headers       map[string]string `json:"headers"`
	Hostname      string            `json:"hostname"`
	Version       string            `json:"version"`
}

func (s *server) handleEcho(w http.ResponseWriter, r *http.Request) {
	reply := echoReply{
		Method:        r.Method,
		URI:           r.RequestURI,
		Host:          r.Host,
		RemoteAddr:    r.RemoteAddr,
		XForwardedFor: r.Header.Get("X-Forwarded-For"),
		Headers:       make(map[string]string, len(r.Header)),
		Hostname:      s.hostname,
		Version:       s.version,
	}
	for k, v := range r.Header {
		reply.Headers[k] = strings.Join(v, ", ")
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(reply)
}

// statusRecorder remembers the status and size of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one line per request once it is answered.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.Printf("%s %s %s %d %dB %s", r.Method, r.RequestURI, r.RemoteAddr,
			rec.status, rec.bytes, time.Since(start).Round(time.Microsecond))
	})
}

// sortedEnv returns a sorted copy of KEY=VALUE lines.
func sortedEnv(env []string) []string {
	out := append([]string(nil), env...)
	sort.Strings(out)
	return out
}

func runServe(args []string) error {
	fs := newFlagSet("serve", "[--port N] [--ready-file PATH] [--start-unready]")
	port := fs.Int("port", defaultPort(8080), "TCP port to listen on (default from $PORT, else 8080)")
	readyFile := fs.String("ready-file", "", "file kept present while ready; removing it makes /readyz fail")
	startUnready := fs.Bool("start-unready", false, "start not ready, until /ready/on")
	if _, err := parseExact(fs, args, 0); err != nil {
		return err
	}

	s := newServer(*readyFile, stdout)
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	// Readiness (and its file) is set only once the port accepts connections.
	if err := s.setReady(!*startUnready); err != nil {
		return err
	}
	s.log.Printf("testapp %s serving on %s (hostname %s)", s.version, ln.Addr(), s.hostname)
	return waitAndShutdown(srv, errc, s.log)
}

// waitAndShutdown serves until SIGTERM or SIGINT, then drains in-flight
// requests so a stop is graceful and exits 0.
func waitAndShutdown(srv *http.Server, errc <-chan error, logger *log.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("signal received, shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Printf("stopped")
	return nil
}
