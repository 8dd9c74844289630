package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// watch streams newline-delimited watch events until the client goes away.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, k *api.Kind, ns string, opts api.ListOptions) {
	ctx := r.Context()
	events, err := s.cfg.Store.Watch(ctx, k, ns, opts)
	if api.IsGone(err) {
		// As Kubernetes does: an expired position is an ERROR event in an
		// otherwise normal stream, so clients re-list.
		var se *api.StatusError
		errors.As(err, &se)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"type": api.Error, "object": se.ErrStatus})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	// Keep idle streams alive through proxies with a blank line now and then;
	// clients skip empty lines.
	keepAlive := time.NewTicker(30 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}
