package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"

	"github.com/shoal-dev/shoal/api"
)

// flushWriter flushes after every write so that followed logs arrive live.
type flushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func (fw flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}

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
	proxy := httputil.NewSingleHostReverseProxy(target.URL)
	proxy.Transport = target.Transport
	proxy.FlushInterval = -1 // stream logs as they come
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		writeError(w, api.NewUnavailable(fmt.Sprintf("the agent of pod %s's node (%s) did not answer: %v", v["name"], target.URL.Host, err)))
	}
	r.Header.Set(proxyHeader, "1")
	// The caller's credential stays here; its identity goes along so that
	// the other agent grants exactly what this one would.
	r.Header.Del("Authorization")
	r.Header.Del(ForwardedUserHeader)
	r.Header.Del(ForwardedGroupHeader)
	if u := UserFrom(r.Context()); u != nil {
		r.Header.Set(ForwardedUserHeader, u.Username)
		for _, g := range u.Groups {
			r.Header.Add(ForwardedGroupHeader, g)
		}
	}
	proxy.ServeHTTP(w, r)
	return true
}

// Headers that carry the identity of the user a forwarded request is made
// for. The receiving agent trusts them only from another agent of the
// cluster (a node certificate).
const (
	ForwardedUserHeader  = "X-Shoal-Forwarded-User"
	ForwardedGroupHeader = "X-Shoal-Forwarded-Group"
)

func (s *Server) podLog(w http.ResponseWriter, r *http.Request) {
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
	lw := &lazyWriter{w: w}
	err = s.cfg.PodIO.Logs(r.Context(), v["namespace"], v["name"], opts, lw)
	if err != nil && !lw.started {
		writeError(w, err)
		return
	}
	if err != nil {
		s.log.Debug("log stream ended", "pod", v["name"], "err", err)
	}
	if !lw.started {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
	}
}

type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "text/plain")
		l.w.WriteHeader(http.StatusOK)
	}
	f, _ := l.w.(http.Flusher)
	return flushWriter{w: l.w, f: f}.Write(p)
}

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{api.ExecProtocol, "channel.k8s.io"},
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

// podExec runs a command in a pod over a websocket speaking the Kubernetes
// channel protocol: each binary message starts with its stream number.
func (s *Server) podExec(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	v := mux.Vars(r)
	q := r.URL.Query()
	opts := api.ExecOptions{Container: q.Get("container"), Command: q["command"],
		Stdin: q.Get("stdin") == "true", Stdout: q.Get("stdout") != "false", Stderr: q.Get("stderr") != "false",
		TTY: q.Get("tty") == "true"}
	if len(opts.Command) == 0 {
		writeError(w, api.NewBadRequest("command: give the command to run, one `command=` parameter per argument"))
		return
	}
	if s.cfg.PodIO == nil {
		writeError(w, api.NewUnavailable("this agent does not serve exec"))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, api.NewBadRequest("exec needs a websocket upgrade with sub-protocol "+api.ExecProtocol))
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	ws := &wsStreams{conn: conn}
	stdinR, stdinW := io.Pipe()
	resize := make(chan api.TerminalSize, 4)
	ctx := r.Context()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer stdinW.Close()
		ws.readLoop(stdinW, resize)
	}()
	var stdin io.Reader
	if opts.Stdin {
		stdin = stdinR
	}
	code, err := s.cfg.PodIO.Exec(ctx, v["namespace"], v["name"], opts, stdin, ws.writer(api.StreamStdout), ws.writer(api.StreamStderr), resize)
	stdinR.Close()
	ws.sendStatus(code, err)
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	conn.Close()
	<-readDone
}

// wsStreams multiplexes the exec streams over one websocket.
type wsStreams struct {
	conn *websocket.Conn
	mu   sync.Mutex
}

func (ws *wsStreams) send(ch byte, p []byte) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	msg := make([]byte, 1+len(p))
	msg[0] = ch
	copy(msg[1:], p)
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

// readLoop feeds stdin and resize messages until the client closes stdin or
// the connection.
func (ws *wsStreams) readLoop(stdin *io.PipeWriter, resize chan<- api.TerminalSize) {
	stdinOpen := true
	for {
		_, msg, err := ws.conn.ReadMessage()
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

// sendStatus ends the exec with a Status on the error channel.
func (ws *wsStreams) sendStatus(code int, err error) {
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
	b, _ := json.Marshal(st)
	_ = ws.send(api.StreamError, b)
}
