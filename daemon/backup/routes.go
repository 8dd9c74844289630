package backup

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/gossip"
)

// RouteConfig configures the API's backup and restore endpoints.
type RouteConfig struct {
	Store *gossip.Store
	// Cluster names the cluster in a backup's header (its CA's fingerprint).
	Cluster        func() string
	Agent, Version string
	// Sensitive says which records are sealed in the file; Include which
	// are in it at all (nil: all).
	Sensitive func(key string) bool
	Include   func(key string) bool
	// Validate checks every restored record as a record received from a
	// peer is checked.
	Validate func(*gossip.Record) error
}

// Routes serve GET api.BackupPath and POST api.RestorePath. They are
// non-resource paths, which only cluster administrators are granted.
func Routes(c RouteConfig) []server.Route {
	return []server.Route{
		{Method: http.MethodGet, Path: api.BackupPath, Handler: func(w http.ResponseWriter, r *http.Request) {
			// The body is built before the first byte is sent, so that an
			// error is still a Status.
			var body strings.Builder
			_, err := Write(&body, c.Store, Options{Cluster: c.Cluster(), Agent: c.Agent, Version: c.Version,
				Passphrase: r.Header.Get(api.BackupPassphraseHeader), Sensitive: c.Sensitive, Include: c.Include})
			if err != nil {
				writeStatus(w, status(err))
				return
			}
			w.Header().Set("Content-Type", api.BackupContentType)
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write([]byte(body.String()))
		}},
		{Method: http.MethodPost, Path: api.RestorePath, Handler: func(w http.ResponseWriter, r *http.Request) {
			body := http.MaxBytesReader(w, r.Body, MaxFileBytes)
			h, recs, err := Read(body, r.Header.Get(api.BackupPassphraseHeader))
			if err != nil {
				writeStatus(w, status(err))
				return
			}
			plan, res, err := Plan(recs)
			if err == nil {
				err = Restore(r.Context(), c.Store, plan, res, c.Validate)
			}
			if err != nil {
				writeStatus(w, status(err))
				return
			}
			res.Cluster, res.Created = h.Cluster, h.Created
			writeJSON(w, http.StatusOK, res)
		}},
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, se *api.StatusError) { writeJSON(w, se.Code(), se.ErrStatus) }

// status maps the errors of a backup or restore to the Status a client
// shows.
func status(err error) *api.StatusError {
	var mbe *http.MaxBytesError
	var se *api.StatusError
	switch {
	case errors.Is(err, ErrPassphrase):
		return api.NewBadRequest(err.Error())
	case errors.Is(err, ErrNotEmpty):
		return api.NewStatusError(http.StatusConflict, api.ReasonConflict, err.Error())
	case errors.As(err, &mbe):
		return api.NewStatusError(http.StatusRequestEntityTooLarge, api.ReasonTooLarge, "the backup file is larger than an agent reads: "+err.Error())
	case errors.Is(err, ErrFile):
		return api.NewStatusError(http.StatusUnprocessableEntity, api.ReasonInvalid, err.Error())
	case errors.As(err, &se):
		return se
	}
	return api.NewInternal(err)
}
