package client

import (
	"context"

	"github.com/shoal-dev/shoal/api"
)

// Members asks the agent for the cluster's members as it sees them, and the
// leader it follows. Agents may disagree for a moment (during a partition,
// say); the answer is that one agent's view.
func (c *Client) Members(ctx context.Context) (*api.MemberList, error) {
	var l api.MemberList
	if err := c.do(ctx, request{method: "GET", path: "/shoal/v1/members"}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
