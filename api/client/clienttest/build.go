package clienttest

import (
	"fmt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/imagebuild"
)

// buildRoute is the agent's real build endpoint over the engine the test
// plays (Server.Builder); without one, builds are refused as unavailable.
func (s *Server) buildRoute() server.Route {
	return imagebuild.New(imagebuild.Config{Builder: func() engine.ImageBuilder {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.builder
	}}).Route()
}

// SetBuilder sets the engine the build endpoint builds with.
func (s *Server) SetBuilder(b engine.ImageBuilder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.builder = b
}

// UserToken makes a user with a token and, for each role given, a
// RoleBinding of that ClusterRole (view, edit, admin) in namespace ns;
// it returns the user's bearer token.
func (s *Server) UserToken(name, ns string, roles ...string) string {
	s.tb.Helper()
	token, hash, err := api.NewBearerToken(name)
	if err != nil {
		s.tb.Fatalf("clienttest: token of %s: %v", name, err)
	}
	if _, err := s.reg.Create(s.ctx, &api.Token{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.TokenSpec{Hash: hash}}); err != nil {
		s.tb.Fatalf("clienttest: token of %s: %v", name, err)
	}
	for _, r := range roles {
		b := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-%s", name, r), Namespace: ns},
			Subjects: []api.Subject{{Kind: api.SubjectUser, APIGroup: api.RBACGroup, Name: name}},
			RoleRef:  api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: r}}
		if _, err := s.reg.Create(s.ctx, b); err != nil {
			s.tb.Fatalf("clienttest: binding %s to %s: %v", name, r, err)
		}
	}
	return token
}
