package client

import (
	"context"
	"encoding/json"

	"github.com/shoal-dev/shoal/api"
)

// JoinToken returns the token that admits a new agent into the cluster.
func (c *Client) JoinToken(ctx context.Context) (*api.JoinTokenInfo, error) {
	var t api.JoinTokenInfo
	return &t, c.do(ctx, request{method: "GET", path: "/shoal/v1/join-token"}, &t)
}

// RotateJoinToken replaces the join secret: tokens given out before stop
// working.
func (c *Client) RotateJoinToken(ctx context.Context) (*api.JoinTokenInfo, error) {
	var t api.JoinTokenInfo
	return &t, c.do(ctx, request{method: "POST", path: "/shoal/v1/join-token/rotate", body: []byte("{}"), contentType: "application/json"}, &t)
}

// GossipKeys lists the gossip keyring, with which members have each key.
func (c *Client) GossipKeys(ctx context.Context) (*api.GossipKeyList, error) {
	var l api.GossipKeyList
	return &l, c.do(ctx, request{method: "GET", path: "/shoal/v1/keys"}, &l)
}

func (c *Client) keyOp(ctx context.Context, path string, req api.GossipKeyRequest) (*api.GossipKeyList, error) {
	body, _ := json.Marshal(req)
	var l api.GossipKeyList
	return &l, c.do(ctx, request{method: "POST", path: path, body: body, contentType: "application/json"}, &l)
}

// InstallKey adds a key (base64) to the keyring of every agent.
func (c *Client) InstallKey(ctx context.Context, key string) (*api.GossipKeyList, error) {
	return c.keyOp(ctx, "/shoal/v1/keys", api.GossipKeyRequest{Key: key})
}

// UseKey makes an installed key (by key or fingerprint) the one gossip is
// encrypted with; refused until every live member has it.
func (c *Client) UseKey(ctx context.Context, req api.GossipKeyRequest) (*api.GossipKeyList, error) {
	return c.keyOp(ctx, "/shoal/v1/keys/use", req)
}

// RemoveKey removes a key no member encrypts with.
func (c *Client) RemoveKey(ctx context.Context, req api.GossipKeyRequest) (*api.GossipKeyList, error) {
	return c.keyOp(ctx, "/shoal/v1/keys/remove", req)
}

// CA returns the cluster CA's state and each member's.
func (c *Client) CA(ctx context.Context) (*api.CAStatus, error) {
	var s api.CAStatus
	return &s, c.do(ctx, request{method: "GET", path: "/shoal/v1/ca"}, &s)
}

// RotateCA starts a CA rotation.
func (c *Client) RotateCA(ctx context.Context) (*api.CAStatus, error) {
	var s api.CAStatus
	return &s, c.do(ctx, request{method: "POST", path: "/shoal/v1/ca/rotate", body: []byte("{}"), contentType: "application/json"}, &s)
}

// FinishCA ends a CA rotation: the previous CA is no longer trusted. It is
// refused while a live member still uses a certificate of the previous CA,
// unless force.
func (c *Client) FinishCA(ctx context.Context, force bool) (*api.CAStatus, error) {
	var s api.CAStatus
	path := "/shoal/v1/ca/rotate/finish"
	if force {
		path += "?force=true"
	}
	return &s, c.do(ctx, request{method: "POST", path: path, body: []byte("{}"), contentType: "application/json"}, &s)
}

// AccessReview asks whether the caller may do something (`auth can-i`).
func (c *Client) AccessReview(ctx context.Context, req api.AccessRequest) (*api.SelfSubjectAccessReview, error) {
	in := api.SelfSubjectAccessReview{TypeMeta: api.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"}, Spec: req}
	body, _ := json.Marshal(in)
	var out api.SelfSubjectAccessReview
	return &out, c.do(ctx, request{method: "POST", path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body: body,
		contentType: "application/json"}, &out)
}

// WhoAmI returns the caller's identity as the agent sees it.
func (c *Client) WhoAmI(ctx context.Context) (*api.UserInfo, error) {
	in := api.SelfSubjectReview{TypeMeta: api.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"}}
	body, _ := json.Marshal(in)
	var out api.SelfSubjectReview
	if err := c.do(ctx, request{method: "POST", path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", body: body,
		contentType: "application/json"}, &out); err != nil {
		return nil, err
	}
	return &out.Status.UserInfo, nil
}

// StorageEncryption says which key seals the agent's sensitive records.
func (c *Client) StorageEncryption(ctx context.Context) (*api.StorageEncryption, error) {
	var s api.StorageEncryption
	return &s, c.do(ctx, request{method: "GET", path: "/shoal/v1/storage"}, &s)
}

// RotateStorageKey gives the agent a new storage key, rewrites its sealed
// records with it and drops the old one.
func (c *Client) RotateStorageKey(ctx context.Context) (*api.StorageEncryption, error) {
	var s api.StorageEncryption
	return &s, c.do(ctx, request{method: "POST", path: "/shoal/v1/storage/rotate-key", body: []byte("{}"), contentType: "application/json"}, &s)
}
