package clienttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// ExecRequest is one exec as the fake server's ExecFunc sees it.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	TTY                       bool
	Stdin                     io.Reader // nil unless the client asked for stdin
	Stdout, Stderr            io.Writer
	Resize                    <-chan api.TerminalSize
}

// ExecFunc runs a command and returns its exit code, or an error when it
// could not run at all.
type ExecFunc func(ctx context.Context, req ExecRequest) (int, error)

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, t target) {
	s.mu.Lock()
	_, found := s.objects[key(t.kind, t.ns, t.name)]
	s.mu.Unlock()
	q := r.URL.Query()
	switch {
	case !found:
		writeError(w, api.NewNotFound(t.kind, t.name))
		return
	case s.Exec == nil:
		writeError(w, api.NewBadRequest("exec is not set up on this test server"))
		return
	case len(q["command"]) == 0:
		writeError(w, api.NewBadRequest("you must specify at least one command for the container"))
		return
	}
	up := websocket.Upgrader{Subprotocols: []string{api.ExecProtocol}}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered already
	}
	defer conn.Close()
	req := ExecRequest{Namespace: t.ns, Pod: t.name, Container: q.Get("container"), Command: q["command"],
		TTY: q.Get("tty") == "true"}
	runExec(r.Context(), conn, req, q.Get("stdin") == "true", s.Exec)
}

// wsWriter sends writes as messages on one channel of the connection.
type wsWriter struct {
	mu      *sync.Mutex
	conn    *websocket.Conn
	channel byte
}

func (w wsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	msg := append([]byte{w.channel}, p...)
	if err := w.conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

func runExec(ctx context.Context, conn *websocket.Conn, req ExecRequest, wantStdin bool, run ExecFunc) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	stdinR, stdinW := io.Pipe()
	resize := make(chan api.TerminalSize, 16)
	go readClient(ctx, cancel, conn, stdinW, resize)
	if wantStdin {
		req.Stdin = stdinR
	}
	req.Stdout = wsWriter{&mu, conn, api.StreamStdout}
	req.Stderr = wsWriter{&mu, conn, api.StreamStderr}
	req.Resize = resize
	code, err := run(ctx, req)
	_ = stdinR.Close()
	st := execStatus(code, err)
	b, _ := json.Marshal(st)
	_, _ = wsWriter{&mu, conn, api.StreamError}.Write(b)
	mu.Lock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	mu.Unlock()
}

// readClient feeds stdin and resize messages until the connection ends.
func readClient(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, stdin *io.PipeWriter, resize chan<- api.TerminalSize) {
	defer cancel()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			_ = stdin.CloseWithError(io.ErrUnexpectedEOF)
			return
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case api.StreamStdin:
			if _, err := stdin.Write(data[1:]); err != nil {
				continue // the command stopped reading; keep serving resizes
			}
		case api.StreamClose:
			if len(data) > 1 && data[1] == api.StreamStdin {
				_ = stdin.Close()
			}
		case api.StreamResize:
			var size api.TerminalSize
			if json.Unmarshal(data[1:], &size) == nil {
				select {
				case resize <- size:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

func execStatus(code int, err error) api.Status {
	switch {
	case err != nil:
		return api.Status{Status: "Failure", Reason: api.ReasonInternalError, Code: http.StatusInternalServerError, Message: err.Error()}
	case code == 0:
		return api.Status{Status: "Success"}
	}
	return api.Status{Status: "Failure", Reason: client.ReasonNonZeroExitCode,
		Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
		Details: &api.StatusDetails{Causes: []api.StatusCause{{Type: client.CauseExitCode, Message: strconv.Itoa(code)}}}}
}
