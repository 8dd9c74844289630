package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"

	"github.com/shoal-dev/shoal/api"
)

// proxyHeader marks a request one agent forwarded to another, so that it
// is never forwarded again.
const proxyHeader = "X-Shoal-Forwarded"

// forward sends a pod request to the agent of the pod's node when the pod
// runs elsewhere. It reports whether it handled the request.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.PodIO == nil {
		return false
	}
	v := mux.Vars(r)
	target, err := s.cfg.PodIO.Locate(r.Context(), v["namespace"], v["name"])
	if err != nil {
		writeError(w, err)
		return true
	}
	if target == nil {
		return false
	}
	if r.Header.Get(proxyHeader) != "" {
		writeError(w, api.NewUnavailable(fmt.Sprintf("pod %s moved while the request was forwarded; try again", v["name"])))
		return true
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The Host becomes the other agent's address, which it
			// accepts; the Origin was checked here, and the other agent
			// serves an agent, not a browser.
			pr.SetURL(target.URL)
			pr.Out.Header.Del("Origin")
			pr.Out.Header.Set(proxyHeader, "1")
			// The caller's credential stays here; its identity goes along
			// so that the other agent grants exactly what this one would.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del(ForwardedUserHeader)
			pr.Out.Header.Del(ForwardedGroupHeader)
			if u := UserFrom(pr.In.Context()); u != nil {
				pr.Out.Header.Set(ForwardedUserHeader, u.Username)
				for _, g := range u.Groups {
					pr.Out.Header.Add(ForwardedGroupHeader, g)
				}
			}
		},
		Transport:     target.Transport,
		FlushInterval: -1, // stream logs as they come
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, api.NewUnavailable(fmt.Sprintf("the agent of pod %s's node (%s) did not answer: %v", v["name"], target.URL.Host, err)))
		},
	}
	sw := newStreamWriter(w, s.cfg.Limits.StreamWriteTimeout)
	defer sw.extend()
	proxy.ServeHTTP(sw, r)
	return true
}

// Headers that carry the identity of the user a forwarded request is made
// for. The receiving agent trusts them only from another agent of the
// cluster (a node certificate).
const (
	ForwardedUserHeader  = "X-Shoal-Forwarded-User"
	ForwardedGroupHeader = "X-Shoal-Forwarded-Group"
)

// openStream takes a place among the open log and exec streams, or answers
// 429.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, err := s.streams.acquire(s.cfg.ClientKey(r))
	if err != nil {
		writeError(w, err)
		return nil, false
	}
	return release, true
}

// podTop lists the processes of a pod's container, on the pod's node.
func (s *Server) podTop(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	topper, ok := s.cfg.PodIO.(PodTopper)
	if !ok {
		writeError(w, api.NewUnavailable("this agent does not list a pod's processes"))
		return
	}
	v := mux.Vars(r)
	top, err := topper.Top(r.Context(), v["namespace"], v["name"], r.URL.Query().Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, top)
}

func (s *Server) podLog(w http.ResponseWriter, r *http.Request) {
	release, ok := s.openStream(w, r)
	if !ok {
		return
	}
	defer release()
	if s.forward(w, r) {
		return
	}
	v := mux.Vars(r)
	q := r.URL.Query()
	opts := api.LogOptions{Container: q.Get("container")}
	var err error
	parseBool := func(name string) bool {
		b, e := strconv.ParseBool(q.Get(name))
		if q.Get(name) != "" && e != nil && err == nil {
			err = api.NewBadRequest(name + ": must be true or false")
		}
		return b
	}
	opts.Follow, opts.Previous, opts.Timestamps = parseBool("follow"), parseBool("previous"), parseBool("timestamps")
	if t := q.Get("tailLines"); t != "" {
		n, e := strconv.ParseInt(t, 10, 64)
		if e != nil || n < 0 {
			err = api.NewBadRequest("tailLines: must be a non-negative integer")
		}
		opts.TailLines = &n
	}
	if st := q.Get("sinceTime"); st != "" {
		ts, e := time.Parse(time.RFC3339, st)
		if e != nil {
			err = api.NewBadRequest("sinceTime: must be an RFC 3339 time")
		}
		t := api.NewTime(ts)
		opts.SinceTime = &t
	}
	if ss := q.Get("sinceSeconds"); ss != "" {
		n, e := strconv.ParseInt(ss, 10, 64)
		switch {
		case e != nil || n < 1:
			err = api.NewBadRequest("sinceSeconds: must be a positive integer")
		case opts.SinceTime != nil:
			err = api.NewBadRequest("sinceSeconds, sinceTime: give at most one of them")
		default:
			t := api.NewTime(time.Now().Add(-time.Duration(min(n, 1<<32)) * time.Second))
			opts.SinceTime = &t
		}
	}
	if lb := q.Get("limitBytes"); lb != "" {
		n, e := strconv.ParseInt(lb, 10, 64)
		if e != nil || n < 1 {
			err = api.NewBadRequest("limitBytes: must be a positive integer")
		}
		opts.LimitBytes = &n
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if s.cfg.PodIO == nil {
		writeError(w, api.NewUnavailable("this agent does not serve pod logs"))
		return
	}
	// Headers go out with the first byte of log, so that an error found
	// before (no such pod or container) can still be a proper Status.
	sw := newStreamWriter(w, s.cfg.Limits.StreamWriteTimeout)
	defer sw.extend()
	lw := &lazyWriter{w: sw}
	err = s.cfg.PodIO.Logs(r.Context(), v["namespace"], v["name"], opts, lw)
	if err != nil && !lw.started {
		writeError(w, err)
		return
	}
	if err != nil {
		s.log.Debug("log stream ended", "pod", v["name"], "err", err)
	}
	if !lw.started {
		sw.Header().Set("Content-Type", "text/plain")
		sw.WriteHeader(http.StatusOK)
	}
}

// lazyWriter sends the headers with the first byte; every write is flushed
// and bounded in time by the streamWriter below it.
type lazyWriter struct {
	w       *streamWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "text/plain")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

var upgrader = websocket.Upgrader{
	// The server's order decides: v5 (stdin can be closed) when the client
	// offers it, as kubectl does; v4 for shoal's own client.
	Subprotocols: []string{api.ExecProtocolV5, api.ExecProtocol, "channel.k8s.io"},
	// serveStdio checks the Origin before upgrading, with a Status for the
	// refusal; this is the same rule, in case the order ever changes.
	CheckOrigin:      func(r *http.Request) bool { return checkOrigin(r) == nil },
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   32 << 10,
	WriteBufferSize:  32 << 10,
}

// stdioOptions reads the streams exec and attach ask for, as kubectl sends
// them: stdin, stdout, stderr and tty, each "true" or "false" (stdout and
// stderr default to true), and the container.
func stdioOptions(q url.Values) (api.ExecOptions, error) {
	opts := api.ExecOptions{Container: q.Get("container"), Command: q["command"], Stdout: true, Stderr: true}
	for _, f := range []struct {
		name string
		to   *bool
	}{{"stdin", &opts.Stdin}, {"stdout", &opts.Stdout}, {"stderr", &opts.Stderr}, {"tty", &opts.TTY}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return opts, api.NewBadRequest(fmt.Sprintf("%s: must be true or false, not %q", f.name, v))
		}
		*f.to = b
	}
	if opts.TTY && opts.Stderr {
		// A terminal has one output stream (as in Kubernetes, which refuses
		// the pair; kubectl never sends it).
		opts.Stderr = false
	}
	return opts, nil
}

// stdioFunc runs what an exec or attach streams: the command, or the
// attachment to the container's main process. It returns the exit code
// (0 for an attach).
type stdioFunc func(ctx context.Context, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error)

// podExec runs a command in a pod over a websocket speaking the Kubernetes
// channel protocol: each binary message starts with its stream number.
func (s *Server) podExec(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	s.serveStdio(w, r, "exec", func(opts api.ExecOptions) (stdioFunc, error) {
		if len(opts.Command) == 0 {
			return nil, api.NewBadRequest("command: give the command to run, one `command=` parameter per argument")
		}
		return func(ctx context.Context, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
			return s.cfg.PodIO.Exec(ctx, v["namespace"], v["name"], opts, stdin, stdout, stderr, resize)
		}, nil
	})
}

// podAttach connects to the standard streams of a container's main
// process (kubectl attach), over the same channel protocol as exec.
func (s *Server) podAttach(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	s.serveStdio(w, r, "attach", func(opts api.ExecOptions) (stdioFunc, error) {
		if len(opts.Command) != 0 {
			return nil, api.NewBadRequest("command: attach joins the container's running process; use exec to run a command")
		}
		if !opts.Stdin && !opts.Stdout && !opts.Stderr {
			return nil, api.NewBadRequest("stdin, stdout, stderr: at least one must be true")
		}
		attacher, ok := s.cfg.PodIO.(PodAttacher)
		if !ok {
			return nil, api.NewUnavailable("this agent does not attach to containers")
		}
		return func(ctx context.Context, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
			return 0, attacher.Attach(ctx, v["namespace"], v["name"], opts, stdin, stdout, stderr, resize)
		}, nil
	})
}

// serveStdio serves an exec or an attach: it checks the request, forwards
// it to the pod's node when the pod runs elsewhere, and streams over a
// websocket. prepare validates the options and returns what to run.
func (s *Server) serveStdio(w http.ResponseWriter, r *http.Request, what string, prepare func(api.ExecOptions) (stdioFunc, error)) {
	// A browser opens websockets to any site without asking: a page
	// elsewhere must not run commands in pods.
	if err := checkOrigin(r); err != nil {
		writeError(w, err)
		return
	}
	release, ok := s.openStream(w, r)
	if !ok {
		return
	}
	defer release()
	if s.forward(w, r) {
		return
	}
	opts, err := stdioOptions(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	if s.cfg.PodIO == nil {
		writeError(w, api.NewUnavailable("this agent does not serve "+what))
		return
	}
	run, err := prepare(opts)
	if err != nil {
		writeError(w, err)
		return
	}
	switch {
	case websocket.IsWebSocketUpgrade(r):
		s.serveStdioWebsocket(w, r, what, opts, run)
	case strings.EqualFold(r.Header.Get(httpstream.HeaderUpgrade), spdy.HeaderSpdy31):
		s.serveStdioSPDY(w, r, what, opts, run)
	default:
		writeError(w, api.NewBadRequest(what+" needs a websocket upgrade with sub-protocol "+api.ExecProtocolV5+" or "+
			api.ExecProtocol+", or an upgrade to "+spdy.HeaderSpdy31))
	}
}

// serveStdioWebsocket streams an exec or attach over a websocket.
func (s *Server) serveStdioWebsocket(w http.ResponseWriter, r *http.Request, what string, opts api.ExecOptions, run stdioFunc) {
	v := mux.Vars(r)
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	ws := &wsStreams{conn: conn, writeTimeout: s.cfg.Limits.StreamWriteTimeout, maxMessage: s.cfg.Limits.MaxWebsocketMessage}
	stdinR, stdinW := io.Pipe()
	resize := make(chan api.TerminalSize, 4)
	// The command ends when the client goes away: nobody reads its output.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		defer stdinW.Close()
		ws.readLoop(stdinW, resize)
	}()
	var stdin io.Reader
	if opts.Stdin {
		stdin = stdinR
	}
	var stdout, stderr io.Writer
	if opts.Stdout {
		stdout = ws.writer(api.StreamStdout)
	}
	if opts.Stderr {
		stderr = ws.writer(api.StreamStderr)
	}
	code, err := run(ctx, opts, stdin, stdout, stderr, resize)
	stdinR.Close()
	if err != nil {
		s.log.Debug(what+" ended with an error", "pod", v["namespace"]+"/"+v["name"], "err", err)
	}
	ws.sendStatus(code, err)
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	conn.Close()
	<-readDone
}

// wsStreams multiplexes the exec streams over one websocket.
type wsStreams struct {
	conn         *websocket.Conn
	writeTimeout time.Duration // a message must be written within this
	maxMessage   int           // the largest message a client may send
	mu           sync.Mutex
}

func (ws *wsStreams) send(ch byte, p []byte) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	msg := make([]byte, 1+len(p))
	msg[0] = ch
	copy(msg[1:], p)
	_ = ws.conn.SetWriteDeadline(time.Now().Add(ws.writeTimeout))
	return ws.conn.WriteMessage(websocket.BinaryMessage, msg)
}

type channelWriter struct {
	ws *wsStreams
	ch byte
}

func (c channelWriter) Write(p []byte) (int, error) {
	if err := c.ws.send(c.ch, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (ws *wsStreams) writer(ch byte) io.Writer { return channelWriter{ws: ws, ch: ch} }

// readLoop feeds stdin and resize messages until the client closes the
// connection, or sends a message over the size limit.
func (ws *wsStreams) readLoop(stdin *io.PipeWriter, resize chan<- api.TerminalSize) {
	stdinOpen := true
	for {
		msg, err := ws.readMessage()
		if err != nil {
			return
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case api.StreamStdin:
			if stdinOpen {
				if _, err := stdin.Write(msg[1:]); err != nil {
					stdinOpen = false
				}
			}
		case api.StreamResize:
			var sz api.TerminalSize
			if json.Unmarshal(msg[1:], &sz) == nil {
				select {
				case resize <- sz:
				default:
				}
			}
		case api.StreamClose:
			if len(msg) > 1 && msg[1] == api.StreamStdin && stdinOpen {
				stdinOpen = false
				stdin.Close()
			}
		}
	}
}

// readMessage reads one message of at most maxMessage bytes. A larger one is
// never held in memory: reading stops past the limit, and the stream is
// closed with a reason the client can show. (The websocket library's own
// SetReadLimit would close it too, but without a reason.)
func (ws *wsStreams) readMessage() ([]byte, error) {
	_, r, err := ws.conn.NextReader()
	if err != nil {
		return nil, err
	}
	msg, err := io.ReadAll(io.LimitReader(r, int64(ws.maxMessage)+1))
	if err != nil {
		return nil, err
	}
	if len(msg) > ws.maxMessage {
		reason := fmt.Sprintf("a message over %d bytes; send stdin in smaller pieces", ws.maxMessage)
		_ = ws.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, reason),
			time.Now().Add(time.Second))
		return nil, errMessageTooBig
	}
	return msg, nil
}

var errMessageTooBig = errors.New("websocket message over the limit")

// sendStatus ends the exec with a Status on the error channel.
func (ws *wsStreams) sendStatus(code int, err error) {
	b, _ := json.Marshal(execStatus(code, err))
	_ = ws.send(api.StreamError, b)
}

// execStatus is the Status that ends an exec or attach: Success, the
// error, or the exit code as kubectl reads it.
func execStatus(code int, err error) api.Status {
	st := api.Status{TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Success"}
	switch {
	case err != nil:
		st.Status = "Failure"
		var se *api.StatusError
		if errors.As(err, &se) {
			st = se.ErrStatus
		} else {
			st.Reason, st.Message = api.ReasonInternalError, err.Error()
		}
	case code != 0:
		st.Status, st.Reason = "Failure", "NonZeroExitCode"
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code)
		st.Details = &api.StatusDetails{Causes: []api.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}}
	}
	return st
}
