package daemon

import (
	"errors"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/backup"
	"github.com/shoal-dev/shoal/daemon/trust/atrest"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// backupRoutes serve a backup of the cluster's state and the restore of
// one (docs/backup.md). They are non-resource paths, which only cluster
// administrators are granted.
func backupRoutes(cfg Config, st *gossip.Store, sealer *atrest.Keyring, reg *registry.Registry) []server.Route {
	return []server.Route{
		{Method: http.MethodGet, Path: api.BackupPath, Handler: func(w http.ResponseWriter, r *http.Request) {
			var ca identity.CAState
			cluster := ""
			if ok, err := readRecord(st, identity.RecordCA, &ca); err == nil && ok {
				if p, err := ca.Parse(); err == nil {
					cluster = "sha256:" + identity.Fingerprint(p.CA.Cert)
				}
			}
			// The body is built before the first byte is sent, so an error
			// is still a Status.
			var body strings.Builder
			_, err := backup.Write(&body, st, backup.Options{Cluster: cluster, Agent: cfg.Name, Version: cfg.Version,
				Passphrase: r.Header.Get(api.BackupPassphraseHeader), Sensitive: sealer.Sensitive,
				// The cluster's CA, keys and join secret stay out: a
				// restored cluster has its own.
				Include: func(key string) bool { return !strings.HasPrefix(key, identity.RecordPrefix) }})
			if err != nil {
				respondErr(w, backupStatus(err))
				return
			}
			w.Header().Set("Content-Type", api.BackupContentType)
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write([]byte(body.String()))
		}},
		{Method: http.MethodPost, Path: api.RestorePath, Handler: func(w http.ResponseWriter, r *http.Request) {
			body := http.MaxBytesReader(w, r.Body, backup.MaxFileBytes)
			h, recs, err := backup.Read(body, r.Header.Get(api.BackupPassphraseHeader))
			if err != nil {
				respondErr(w, backupStatus(err))
				return
			}
			plan, res, err := backup.Plan(recs)
			if err == nil {
				err = backup.Restore(r.Context(), st, plan, res, reg.ValidateRecord)
			}
			if err != nil {
				respondErr(w, backupStatus(err))
				return
			}
			res.Cluster, res.Created = h.Cluster, h.Created
			respond(w, http.StatusOK, res)
		}},
	}
}

// backupStatus maps the errors of a backup or restore to the Status a
// client shows.
func backupStatus(err error) *api.StatusError {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, backup.ErrPassphrase):
		return api.NewBadRequest(err.Error())
	case errors.Is(err, backup.ErrNotEmpty):
		return api.NewStatusError(http.StatusConflict, api.ReasonConflict, err.Error())
	case errors.As(err, &mbe):
		return api.NewStatusError(http.StatusRequestEntityTooLarge, api.ReasonTooLarge, "the backup file is larger than an agent reads: "+err.Error())
	case errors.Is(err, backup.ErrFile):
		return api.NewStatusError(http.StatusUnprocessableEntity, api.ReasonInvalid, err.Error())
	}
	return statusOf(err)
}
