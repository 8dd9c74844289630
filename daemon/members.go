package daemon

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/leader/election"
)

// memberLister gives the members for GET /shoal/v1/members.
type memberLister interface {
	apiMembers() []api.Member
}

// membersRoute serves the cluster's members and the leader this agent follows.
func membersRoute(self string, src memberLister, lead *election.Election) server.Route {
	return server.Route{Method: http.MethodGet, Path: "/shoal/v1/members", Handler: func(w http.ResponseWriter, _ *http.Request) {
		items := src.apiMembers()
		sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
		list := api.MemberList{TypeMeta: api.TypeMeta{Kind: "MemberList", APIVersion: "shoal/v1"},
			Self: self, Leader: lead.Leader(), Items: items}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}}
}
