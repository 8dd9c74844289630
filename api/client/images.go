package client

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/shoal-dev/shoal/api"
)

// PlaceImage asks the agent of node to make its engine hold image,
// fetched from another node that holds it (POST
// /api/v1/nodes/{node}/images). It returns once the image is there.
func (c *Client) PlaceImage(ctx context.Context, node, image string) (*api.NodeImageResult, error) {
	body, err := json.Marshal(api.NodeImageRequest{TypeMeta: api.TypeMeta{Kind: "NodeImageRequest", APIVersion: "v1"}, Image: image})
	if err != nil {
		return nil, err
	}
	var res api.NodeImageResult
	path := "/api/v1/nodes/" + url.PathEscape(node) + "/images"
	if err := c.do(ctx, request{method: "POST", path: path, body: body, contentType: "application/json"}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
