package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// watch streams newline-delimited watch events until the client goes away.
// Open watches are bounded in all and per client. The store hands events over
// one at a time (an unbuffered channel), so a watch holds at most one event
// here beyond what the socket buffers; a client that stops reading is cut off
// after StreamWriteTimeout, which ends the store's subscription with it, and
// the client re-lists.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, k *api.Kind, ns string, opts api.ListOptions) {
	release, err := s.watches.acquire(s.cfg.ClientKey(r))
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
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
	sw := newStreamWriter(w, s.cfg.Limits.StreamWriteTimeout)
	// The end of the stream must reach the client too.
	defer sw.extend()
	sw.Header().Set("Content-Type", "application/json")
	sw.Header().Set("Transfer-Encoding", "chunked")
	sw.WriteHeader(http.StatusOK)
	if sw.FlushError() != nil {
		return
	}
	enc := json.NewEncoder(sw)
	// Keep idle streams alive through proxies with a blank line now and then;
	// clients skip empty lines.
	keepAlive := time.NewTicker(30 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			if _, err := sw.Write([]byte("\n")); err != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			// Encode writes each event in one Write, which flushes it.
			if err := enc.Encode(ev); err != nil {
				return
			}
		}
	}
}
