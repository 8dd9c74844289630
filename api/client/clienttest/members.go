package clienttest

import (
	"encoding/json"
	"net/http"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

// SetMembers sets what /shoal/v1/members answers: the agent that answers
// (self), the leader it follows and the members, in the order given (the
// agent sorts them by name; a test may not, to check that clients do).
func (s *Server) SetMembers(self, leader string, items ...api.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members = api.MemberList{Self: self, Leader: leader, Items: append([]api.Member(nil), items...)}
}

// membersRoute stands for the agent's own members endpoint, which lives
// with the agent's membership, not in the API server.
func (s *Server) membersRoute() server.Route {
	return server.Route{Method: http.MethodGet, Path: "/shoal/v1/members", Handler: func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		l := s.members
		l.Items = append([]api.Member{}, l.Items...)
		s.mu.Unlock()
		l.TypeMeta = api.TypeMeta{Kind: "MemberList", APIVersion: "shoal/v1"}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(l)
	}}
}
