package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// watch streams newline-delimited watch events until the client goes away;
// with tab set, each event's object is a Table of one row, as Kubernetes
// sends to a watch that asked for a Table (kubectl get -w).
// Open watches are bounded in all and per client. The store hands events over
// one at a time (an unbuffered channel), so a watch holds at most one event
// here beyond what the socket buffers; a client that stops reading is cut off
// after StreamWriteTimeout, which ends the store's subscription with it, and
// the client re-lists.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, k *api.Kind, ns string, opts api.ListOptions, tab *tabler) {
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
	contentType := "application/json"
	if tab != nil {
		contentType = tableContentType(tab.version)
	}
	sw.Header().Set("Content-Type", contentType)
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
	first := true
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
			if ev.Type == api.Error {
				s.watchesExpired.Add(1) // it fell behind: the client lists again
			}
			var out any = ev
			if tab != nil {
				out = tab.event(ev, first)
				// The column definitions go with the first row.
				first = first && ev.Type == api.Error
			}
			// Encode writes each event in one Write, which flushes it.
			if err := enc.Encode(out); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					s.watchesCut.Add(1)
					s.log.Info("closed a watch whose client stopped reading", "resource", k.Resource,
						"client", s.cfg.ClientKey(r), "write_timeout", s.cfg.Limits.StreamWriteTimeout)
				}
				return
			}
		}
	}
}

// WatchStats are counters of the server's watches.
type WatchStats struct {
	Open int // open now
	// Cut counts the watches closed because a write to their client made
	// no progress within Limits.StreamWriteTimeout (it stopped reading).
	Cut uint64
	// Expired counts the watches ended by an ERROR event because they fell
	// behind the store's changes (the client lists again).
	Expired uint64
}

// WatchStats returns the counters of the server's watches.
func (s *Server) WatchStats() WatchStats {
	return WatchStats{Open: s.watches.inUse(), Cut: s.watchesCut.Load(), Expired: s.watchesExpired.Load()}
}
