package clienttest

import (
	"net/http"

	"github.com/shoal-dev/shoal/api"
)

// SetMembers sets what /shoal/v1/members answers: the agent that answers
// (self), the leader it follows and the members, in the order given (the
// agent sorts them by name; a test may not, to check that clients do).
func (s *Server) SetMembers(self, leader string, items ...api.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members = api.MemberList{Self: self, Leader: leader, Items: append([]api.Member(nil), items...)}
}

func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow, r.Method+" is not allowed on members"))
		return
	}
	s.mu.Lock()
	l := s.members
	l.Items = append([]api.Member{}, l.Items...)
	s.mu.Unlock()
	l.TypeMeta = api.TypeMeta{Kind: "MemberList", APIVersion: "shoal/v1"}
	writeJSON(w, http.StatusOK, l)
}
