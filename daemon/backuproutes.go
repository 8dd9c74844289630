package daemon

import (
	"strings"

	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/backup"
	"github.com/shoal-dev/shoal/daemon/trust/atrest"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// backupRoutes serve a backup of the cluster's state and the restore of
// one (docs/backup.md), to cluster administrators only.
func backupRoutes(cfg Config, st *gossip.Store, sealer *atrest.Keyring, reg *registry.Registry) []server.Route {
	return backup.Routes(backup.RouteConfig{
		Store: st, Agent: cfg.Name, Version: cfg.Version, Sensitive: sealer.Sensitive, Validate: reg.ValidateRecord,
		Cluster: func() string {
			var ca identity.CAState
			if ok, err := readRecord(st, identity.RecordCA, &ca); err == nil && ok {
				if p, err := ca.Parse(); err == nil {
					return "sha256:" + identity.Fingerprint(p.CA.Cert)
				}
			}
			return ""
		},
		// The cluster's CA, keys and join secret stay out: a restored
		// cluster makes its own.
		Include: func(key string) bool { return !strings.HasPrefix(key, identity.RecordPrefix) },
	})
}
