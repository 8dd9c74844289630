package imagemove

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// SavePath is the internal endpoint (served on the gossip port to node
// certificates only) that streams `docker save` of one image: GET
// SavePath?id=sha256:<hex>.
const SavePath = "/shoal/v1/internal/images/save"

// HeaderImageID names the image a save carries.
const HeaderImageID = "X-Shoal-Image-Id"

// Handler serves saves of the local engine's images to other agents, at
// most parallel at once (a save reads every layer from disk); beyond, it
// answers 503 and the asking agent tries another peer.
func Handler(eng Engine, parallel int, log *slog.Logger) http.Handler {
	slots := make(chan struct{}, max(parallel, 1))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if !api.IsImageID(id) {
			http.Error(w, fmt.Sprintf("query parameter id: %q is not an image ID (sha256: and 64 hex digits)", id), http.StatusBadRequest)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			http.Error(w, "this agent is sending other images; ask another peer", http.StatusServiceUnavailable)
			return
		}
		info, err := eng.InspectImage(r.Context(), id)
		switch {
		case errors.Is(err, engine.ErrImageNotFound):
			http.Error(w, fmt.Sprintf("image %s is not here", id), http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case info.ID != id:
			http.Error(w, fmt.Sprintf("image %s is not here", id), http.StatusNotFound)
			return
		}
		rc, err := eng.SaveImage(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set(HeaderImageID, id)
		n, err := io.Copy(w, rc)
		if err != nil {
			log.Warn("sending an image to a peer broke off", "id", id, "sent", n, "err", err)
			return
		}
		log.Debug("image sent to a peer", "id", id, "bytes", strconv.FormatInt(n, 10))
	})
}
