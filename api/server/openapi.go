package server

import (
	"net/http"
	"strings"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/openapi"
)

// openAPIDocs serve the OpenAPI documents of the routes: kube-openapi's
// handlers negotiate JSON or protobuf (kubectl asks /openapi/v2 for
// protobuf only), answer ETags, and serve /openapi/v3's index with a hash
// in each group version's URL.
type openAPIDocs struct {
	v2 *handler.OpenAPIService
	v3 *handler3.OpenAPIService
	// v3Keys are the group versions of /openapi/v3: "api/v1", "apis/apps/v1".
	v3Keys map[string]bool
}

// pathMux adapts the router to kube-openapi's handler registration.
type pathMux struct{ s *Server }

func (m pathMux) Handle(path string, h http.Handler) {
	m.s.router.Handle(path, h).Methods(http.MethodGet, http.MethodHead)
}

func (s *Server) openAPIRoutes(resources []openapi.Resource) {
	opts := openapi.Options{Version: s.cfg.Version, PatchTypes: patchTypes}
	docs := &openAPIDocs{v2: handler.NewOpenAPIService(openapi.V2(resources, opts)), v3: handler3.NewOpenAPIService(),
		v3Keys: map[string]bool{}}
	for key, doc := range openapi.V3(resources, opts) {
		docs.v3.UpdateGroupVersion(key, doc)
		docs.v3Keys[key] = true
	}
	s.openAPI = docs
	docs.v2.RegisterOpenAPIVersionedService("/openapi/v2", pathMux{s})
	s.router.HandleFunc("/openapi/v3", docs.v3.HandleDiscovery).Methods(http.MethodGet, http.MethodHead)
	s.router.PathPrefix("/openapi/v3/").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/openapi/v3/")
		if !docs.v3Keys[key] {
			// kube-openapi answers an unknown group version with an empty 200.
			writeError(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound,
				"the server has no OpenAPI document for "+key+"; /openapi/v3 lists those it has"))
			return
		}
		docs.v3.HandleGroupVersion(w, r)
	}).Methods(http.MethodGet, http.MethodHead)
}
