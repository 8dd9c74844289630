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
	return c.RequestImage(ctx, node, api.NodeImageRequest{Image: image})
}

// RequestImage asks the agent of node to make its engine hold req.Image:
// from another node that holds it, else, with req.Pull, from its
// registry. It returns once the image is there.
func (c *Client) RequestImage(ctx context.Context, node string, req api.NodeImageRequest) (*api.NodeImageResult, error) {
	req.TypeMeta = api.TypeMeta{Kind: "NodeImageRequest", APIVersion: "v1"}
	body, err := json.Marshal(req)
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
