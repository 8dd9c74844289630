package clienttest

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

// PlaceImageFunc answers POST /api/v1/nodes/{node}/images as the node's
// agent would: a result, or an error (a *api.StatusError keeps its code).
type PlaceImageFunc func(node, image string) (*api.NodeImageResult, error)

// SetPlaceImage sets how the server answers requests to place an image
// on a node; without it they fail with 503.
func (s *Server) SetPlaceImage(f PlaceImageFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.placeImage = f
}

// nodeImagesRoute stands for the agent's own endpoint, which lives with
// the agent's image mover, not in the API server.
func (s *Server) nodeImagesRoute() server.Route {
	return server.Route{Method: http.MethodPost, Path: "/api/v1/nodes/{name}/images", Handler: func(w http.ResponseWriter, r *http.Request) {
		node := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/nodes/"), "/images")
		var req api.NodeImageRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		f := s.placeImage
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var res *api.NodeImageResult
		err := error(api.NewUnavailable("clienttest: no SetPlaceImage"))
		if f != nil {
			res, err = f(node, req.Image)
		}
		if err != nil {
			se, ok := err.(*api.StatusError)
			if !ok {
				se = api.NewInternal(err)
			}
			w.WriteHeader(se.Code())
			_ = json.NewEncoder(w).Encode(se.ErrStatus)
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	}}
}
