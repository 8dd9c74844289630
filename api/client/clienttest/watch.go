package clienttest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// watchStream is the answer to one watch request while the API server
// streams it: the test can count it and end it.
type watchStream struct {
	http.ResponseWriter
	s      *Server
	access *api.ResourceAttributes
	cancel func() // ends the request the API server serves

	mu    sync.Mutex
	open  bool   // the stream began: counted by Watchers
	ended bool   // SendWatchError ended it
	last  []byte // the ERROR event it ends with, sent by serve
}

var errStreamEnded = errors.New("clienttest: the test ended this watch")

func isWatch(r *http.Request) bool {
	b, err := strconv.ParseBool(r.URL.Query().Get("watch"))
	return r.Method == http.MethodGet && err == nil && b
}

// begin counts the stream once the API server answers 200; the caller
// holds ws.mu.
func (ws *watchStream) begin(code int) {
	if ws.open || code != http.StatusOK {
		return
	}
	ws.open = true
	ws.s.mu.Lock()
	ws.s.streams[ws] = struct{}{}
	ws.s.mu.Unlock()
}

func (ws *watchStream) WriteHeader(code int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.begin(code)
	ws.ResponseWriter.WriteHeader(code)
}

func (ws *watchStream) Write(p []byte) (int, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.ended {
		return 0, errStreamEnded
	}
	ws.begin(http.StatusOK)
	return ws.ResponseWriter.Write(p)
}

func (ws *watchStream) FlushError() error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return http.NewResponseController(ws.ResponseWriter).Flush()
}

// Unwrap lets the API server set the deadlines of the connection.
func (ws *watchStream) Unwrap() http.ResponseWriter { return ws.ResponseWriter }

func (s *Server) closeStream(ws *watchStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, ws)
}

// Watchers returns how many watch streams are open.
func (s *Server) Watchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// SendWatchError ends every open watch of kind k with an ERROR event
// carrying st, as the agent ends a watch that fell behind (a 410 Expired).
func (s *Server) SendWatchError(k *api.Kind, st api.Status) {
	s.mu.Lock()
	var hit []*watchStream
	for ws := range s.streams {
		if ws.access != nil && ws.access.Resource == k.Resource && ws.access.Group == k.Group {
			hit = append(hit, ws)
		}
	}
	s.mu.Unlock()
	if st.Kind == "" {
		st.TypeMeta = api.TypeMeta{Kind: "Status", APIVersion: "v1"}
	}
	line, _ := json.Marshal(map[string]any{"type": api.Error, "object": st})
	for _, ws := range hit {
		ws.mu.Lock()
		if !ws.ended {
			ws.ended, ws.last = true, append(line, '\n')
		}
		ws.mu.Unlock()
		ws.cancel() // the API server's handler returns, then serve sends last
	}
}

// end sends the ERROR event SendWatchError left, if any, once the API
// server's handler returned: only the request's goroutine may write.
func (ws *watchStream) end() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.last != nil {
		_, _ = ws.ResponseWriter.Write(ws.last)
		_ = http.NewResponseController(ws.ResponseWriter).Flush()
	}
}
