package clienttest

import (
	"encoding/json"
	"fmt"
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

// historySize bounds the changes kept for watches that resume from a
// resourceVersion; an older position gets 410 Expired, as from the agent.
const historySize = 4096

// pastEvent is one change kept for watches that start after it happened.
type pastEvent struct {
	rv     int64
	kind   *api.Kind
	ns     string
	labels map[string]string
	ev     wireEvent
}

// wants reports whether a change to an object belongs to this watch.
func (w *watcher) wants(k *api.Kind, ns string, labels map[string]string) bool {
	return w.kind == k && (w.ns == "" || !k.Namespaced || ns == w.ns) && w.sel.Matches(labels)
}

// notify records a change, made at the current s.rv, and queues it for
// every matching watcher; the caller holds s.mu. A watcher too slow to keep
// up loses events, which tests never come near.
func (s *Server) notify(k *api.Kind, typ string, o api.Object) {
	data, err := json.Marshal(o)
	if err != nil {
		return
	}
	m := o.GetObjectMeta()
	pe := pastEvent{rv: s.rv, kind: k, ns: m.Namespace, labels: m.Labels,
		ev: wireEvent{Type: typ, Object: json.RawMessage(data)}}
	if len(s.history) == historySize {
		s.history = append(s.history[:0], s.history[1:]...)
		s.historyTrimmed = true
	}
	s.history = append(s.history, pe)
	for w := range s.watchers {
		if !w.wants(k, pe.ns, pe.labels) {
			continue
		}
		select {
		case w.events <- pe.ev:
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

// serveWatch streams changes. Without a resourceVersion it starts with an
// ADDED event per object; with one it first replays the changes made after
// it, so that a client that lists and then watches misses nothing.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, t target, sel api.Selector) {
	wa := &watcher{kind: t.kind, ns: t.ns, sel: sel}
	s.mu.Lock()
	var first []wireEvent
	if q := r.URL.Query().Get("resourceVersion"); q == "" {
		for _, o := range s.list(t.kind, t.ns, sel) {
			// Encoded now: the stream writes later, without s.mu, and
			// stored objects change in place.
			data, err := json.Marshal(o)
			if err != nil {
				continue
			}
			first = append(first, wireEvent{Type: api.Added, Object: json.RawMessage(data)})
		}
	} else {
		rv, err := strconv.ParseInt(q, 10, 64)
		if err != nil || rv > s.rv {
			s.mu.Unlock()
			writeError(w, api.NewBadRequest("resourceVersion: not a version this server gave out"))
			return
		}
		if s.historyTrimmed && len(s.history) > 0 && rv < s.history[0].rv-1 {
			s.mu.Unlock()
			// As the agent does: an ERROR event in an otherwise normal stream.
			writeJSON(w, http.StatusOK, wireEvent{Type: api.Error,
				Object: api.NewGone(fmt.Sprintf("too old resource version: %d (%d)", rv, s.history[0].rv-1)).ErrStatus})
			return
		}
		for _, pe := range s.history {
			if pe.rv > rv && wa.wants(pe.kind, pe.ns, pe.labels) {
				first = append(first, pe.ev)
			}
		}
	}
	wa.events = make(chan wireEvent, len(first)+1024)
	for _, ev := range first {
		wa.events <- ev
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
