package clienttest

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/shoal-dev/shoal/api"
)

// watcher is one open watch stream.
type watcher struct {
	kind   *api.Kind
	ns     string
	sel    api.Selector
	events chan wireEvent
}

type wireEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// notify queues a change for every matching watcher; the caller holds s.mu.
// A watcher too slow to keep up loses events, which tests never come near.
func (s *Server) notify(k *api.Kind, typ string, o api.Object) {
	data, err := json.Marshal(o)
	if err != nil {
		return
	}
	for w := range s.watchers {
		m := o.GetObjectMeta()
		if w.kind != k || (w.ns != "" && k.Namespaced && m.Namespace != w.ns) || !w.sel.Matches(m.Labels) {
			continue
		}
		select {
		case w.events <- wireEvent{Type: typ, Object: json.RawMessage(data)}:
		default:
		}
	}
}

// SendWatchError sends an ERROR event with st to every open watch of kind k.
func (s *Server) SendWatchError(k *api.Kind, st api.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.kind != k {
			continue
		}
		select {
		case w.events <- wireEvent{Type: api.Error, Object: st}:
		default:
		}
	}
}

// Watchers returns how many watch streams are open.
func (s *Server) Watchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, t target, sel api.Selector) {
	wa := &watcher{kind: t.kind, ns: t.ns, sel: sel, events: make(chan wireEvent, 1024)}
	s.mu.Lock()
	if r.URL.Query().Get("resourceVersion") == "" {
		for _, o := range s.list(t.kind, t.ns, sel) {
			wa.events <- wireEvent{Type: api.Added, Object: o}
		}
	} else if rv, err := strconv.ParseInt(r.URL.Query().Get("resourceVersion"), 10, 64); err != nil || rv > s.rv {
		s.mu.Unlock()
		writeError(w, api.NewBadRequest("resourceVersion: not a version this server gave out"))
		return
	}
	s.watchers[wa] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, wa)
		s.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-wa.events:
			if enc.Encode(ev) != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}
