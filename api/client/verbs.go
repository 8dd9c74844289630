package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/shoal-dev/shoal/api"
)

// Patch content types, as kubectl sends them.
const (
	PatchStrategic = "application/strategic-merge-patch+json"
	PatchMerge     = "application/merge-patch+json"
	PatchJSON      = "application/json-patch+json"
	PatchApply     = "application/apply-patch+yaml"
)

// PatchOptions says how PatchRaw sends a patch.
type PatchOptions struct {
	// ContentType is one of the Patch* types.
	ContentType string
	// Subresource is "", "status" or "scale".
	Subresource string
	// DryRun asks the server to check and answer without storing.
	DryRun bool
	// FieldManager and Force are the server-side apply parameters.
	FieldManager string
	Force        bool
}

// PatchRaw sends a patch of any type to an object or its status or scale
// and returns the server's answer as it came (an object of kind k, or a
// Scale), so that a caller can print it in the shape it has.
func (c *Client) PatchRaw(ctx context.Context, k *api.Kind, ns, name string, body []byte, o PatchOptions) (json.RawMessage, error) {
	if err := needName(k, name); err != nil {
		return nil, err
	}
	path := k.ObjectPath(ns, name)
	if o.Subresource != "" {
		path += "/" + o.Subresource
	}
	q := url.Values{}
	if o.DryRun {
		q.Set("dryRun", "All")
	}
	if o.FieldManager != "" {
		q.Set("fieldManager", o.FieldManager)
	}
	if o.Force {
		q.Set("force", "true")
	}
	var raw json.RawMessage
	err := c.do(ctx, request{method: "PATCH", path: path, query: q, body: body, contentType: o.ContentType}, &raw)
	return raw, err
}

// DecodeObject reads an object of kind k from JSON, with its kind and
// apiVersion set.
func DecodeObject(k *api.Kind, data []byte) (api.Object, error) { return decodeObject(k, data) }

// PodMetrics lists the last measured usage of the pods of ns (every
// namespace for "") that sel matches (metrics.k8s.io).
func (c *Client) PodMetrics(ctx context.Context, ns string, sel api.Selector) ([]api.PodMetrics, error) {
	path := "/apis/" + api.MetricsGroupVersion + "/pods"
	if ns != "" {
		path = "/apis/" + api.MetricsGroupVersion + "/namespaces/" + url.PathEscape(ns) + "/pods"
	}
	var l api.PodMetricsList
	if err := c.do(ctx, request{method: "GET", path: path, query: selectorQuery(sel)}, &l); err != nil {
		return nil, fmt.Errorf("reading the pods' metrics: %w", err)
	}
	return l.Items, nil
}

// NodeMetrics lists the last measured usage of the nodes sel matches.
func (c *Client) NodeMetrics(ctx context.Context, sel api.Selector) ([]api.NodeMetrics, error) {
	var l api.NodeMetricsList
	if err := c.do(ctx, request{method: "GET", path: "/apis/" + api.MetricsGroupVersion + "/nodes", query: selectorQuery(sel)}, &l); err != nil {
		return nil, fmt.Errorf("reading the nodes' metrics: %w", err)
	}
	return l.Items, nil
}

func selectorQuery(sel api.Selector) url.Values {
	q := url.Values{}
	if sel != nil && !sel.Empty() {
		q.Set("labelSelector", sel.String())
	}
	return q
}

// DryRunWrite asks the server what storing obj would make of it, storing
// nothing: a replace of the object as it is now when it exists (the
// semantics of apply), a create when it does not. The answer is the object
// with the server's defaults, admission and preserved fields applied, for
// a diff against the live object (nil when there is none).
func (c *Client) DryRunWrite(ctx context.Context, k *api.Kind, ns string, obj api.Object) (live, merged api.Object, err error) {
	ns = namespaceOf(ns, obj)
	name := obj.GetObjectMeta().Name
	if err := needName(k, name); err != nil {
		return nil, nil, err
	}
	q := url.Values{"dryRun": {"All"}}
	live, err = c.Get(ctx, k, ns, name)
	switch {
	case api.IsNotFound(err):
		live = nil
		body, err := encode(k, obj)
		if err != nil {
			return nil, nil, err
		}
		merged, err = c.objectCall(ctx, k, request{method: "POST", path: k.CollectionPath(ns), query: q, body: body, contentType: "application/json"})
		return nil, merged, err
	case err != nil:
		return nil, nil, err
	}
	obj.GetObjectMeta().ResourceVersion = live.GetObjectMeta().ResourceVersion
	body, err := encode(k, obj)
	if err != nil {
		return nil, nil, err
	}
	merged, err = c.objectCall(ctx, k, request{method: "PUT", path: k.ObjectPath(ns, name), query: q, body: body, contentType: "application/json"})
	return live, merged, err
}
