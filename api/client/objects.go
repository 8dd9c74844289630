package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strconv"

	"github.com/shoal-dev/shoal/api"
)

// Get reads one object. ns is ignored for cluster-scoped kinds.
func (c *Client) Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error) {
	if err := needName(k, name); err != nil {
		return nil, err
	}
	return c.objectCall(ctx, k, request{method: "GET", path: k.ObjectPath(ns, name)})
}

// List reads the objects of a kind in namespace ns ("" for every namespace)
// that match opts.LabelSelector and opts.FieldSelector, and the list's resourceVersion, from which a
// Watch can continue.
func (c *Client) List(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) ([]api.Object, string, error) {
	q := url.Values{}
	if !opts.LabelSelector.Empty() {
		q.Set("labelSelector", opts.LabelSelector.String())
	}
	if !opts.FieldSelector.Empty() {
		q.Set("fieldSelector", opts.FieldSelector.String())
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	return c.listCall(ctx, k, request{method: "GET", path: k.CollectionPath(ns), query: q})
}

// Create stores a new object. ns "" takes the object's own namespace.
func (c *Client) Create(ctx context.Context, k *api.Kind, ns string, obj api.Object) (api.Object, error) {
	ns = namespaceOf(ns, obj)
	body, err := encode(k, obj)
	if err != nil {
		return nil, err
	}
	return c.objectCall(ctx, k, request{method: "POST", path: k.CollectionPath(ns), body: body, contentType: "application/json"})
}

// Update replaces an object (PUT); its metadata.resourceVersion, when set,
// makes the server refuse with a Conflict if the object changed since.
func (c *Client) Update(ctx context.Context, k *api.Kind, ns string, obj api.Object) (api.Object, error) {
	return c.put(ctx, k, ns, obj, "")
}

// UpdateStatus replaces the status of an object (PUT on .../status).
func (c *Client) UpdateStatus(ctx context.Context, k *api.Kind, ns string, obj api.Object) (api.Object, error) {
	return c.put(ctx, k, ns, obj, "/status")
}

func (c *Client) put(ctx context.Context, k *api.Kind, ns string, obj api.Object, sub string) (api.Object, error) {
	ns = namespaceOf(ns, obj)
	name := obj.GetObjectMeta().Name
	if err := needName(k, name); err != nil {
		return nil, err
	}
	body, err := encode(k, obj)
	if err != nil {
		return nil, err
	}
	return c.objectCall(ctx, k, request{method: "PUT", path: k.ObjectPath(ns, name) + sub, body: body, contentType: "application/json"})
}

// Patch applies a JSON merge patch (RFC 7386) to an object.
func (c *Client) Patch(ctx context.Context, k *api.Kind, ns, name string, mergePatch []byte) (api.Object, error) {
	if err := needName(k, name); err != nil {
		return nil, err
	}
	return c.objectCall(ctx, k, request{method: "PATCH", path: k.ObjectPath(ns, name), body: mergePatch,
		contentType: "application/merge-patch+json"})
}

// deleteBody is DeleteOptions on the wire, in the Kubernetes shape.
type deleteBody struct {
	GracePeriodSeconds *int64         `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *preconditions `json:"preconditions,omitempty"`
}

type preconditions struct {
	UID string `json:"uid,omitempty"`
}

// Delete deletes an object and returns it as the server last saw it: a pod
// may still exist for a while, Terminating, with metadata.deletionTimestamp
// set. The object is nil when the server answers with a bare Status.
func (c *Client) Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error) {
	if err := needName(k, name); err != nil {
		return nil, err
	}
	r := request{method: "DELETE", path: k.ObjectPath(ns, name), query: url.Values{}}
	if opts.GracePeriodSeconds != nil {
		r.query.Set("gracePeriodSeconds", strconv.FormatInt(*opts.GracePeriodSeconds, 10))
	}
	if opts.GracePeriodSeconds != nil || opts.UID != "" {
		b := deleteBody{GracePeriodSeconds: opts.GracePeriodSeconds}
		if opts.UID != "" {
			b.Preconditions = &preconditions{UID: opts.UID}
		}
		body, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encoding delete options: %w", err)
		}
		r.body, r.contentType = body, "application/json"
	}
	var raw json.RawMessage
	if err := c.do(ctx, r, &raw); err != nil {
		return nil, err
	}
	if isStatus(raw) {
		return nil, nil
	}
	return decodeObject(k, raw)
}

// DeleteCollection deletes every object of a kind in ns that matches sel
// (all of them for an empty selector) and returns the deleted objects.
func (c *Client) DeleteCollection(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, error) {
	q := url.Values{}
	if !sel.Empty() {
		q.Set("labelSelector", sel.String())
	}
	items, _, err := c.listCall(ctx, k, request{method: "DELETE", path: k.CollectionPath(ns), query: q})
	return items, err
}

func (c *Client) objectCall(ctx context.Context, k *api.Kind, r request) (api.Object, error) {
	var raw json.RawMessage
	if err := c.do(ctx, r, &raw); err != nil {
		return nil, err
	}
	obj, err := decodeObject(k, raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	return obj, nil
}

// rawList is any XList on the wire.
type rawList struct {
	Metadata api.ListMeta      `json:"metadata"`
	Items    []json.RawMessage `json:"items"`
}

func (c *Client) listCall(ctx context.Context, k *api.Kind, r request) ([]api.Object, string, error) {
	var l rawList
	if err := c.do(ctx, r, &l); err != nil {
		return nil, "", err
	}
	items := make([]api.Object, 0, len(l.Items))
	for i, raw := range l.Items {
		obj, err := decodeObject(k, raw)
		if err != nil {
			return nil, "", fmt.Errorf("%s %s: item %d: %w", r.method, r.path, i, err)
		}
		items = append(items, obj)
	}
	return items, l.Metadata.ResourceVersion, nil
}

// decodeObject reads JSON into a new object of kind k. Lists on the wire
// often leave out each item's kind, so it is always set.
func decodeObject(k *api.Kind, data []byte) (api.Object, error) {
	obj := k.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decoding a %s: %w", k.Kind, err)
	}
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
	return obj, nil
}

func isStatus(data []byte) bool {
	var tm api.TypeMeta
	return json.Unmarshal(data, &tm) == nil && tm.Kind == "Status"
}

// encode writes an object with its kind and apiVersion filled in.
func encode(k *api.Kind, obj api.Object) ([]byte, error) {
	tm := obj.GetTypeMeta()
	if tm.Kind == "" {
		tm.Kind = k.Kind
	}
	if tm.APIVersion == "" {
		tm.APIVersion = k.APIVersion()
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %q: %w", k.Kind, obj.GetObjectMeta().Name, err)
	}
	return b, nil
}

func namespaceOf(ns string, obj api.Object) string {
	if ns == "" {
		return obj.GetObjectMeta().Namespace
	}
	return ns
}

// needName refuses an empty name, which would otherwise address the whole
// collection.
func needName(k *api.Kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s: a name is required", k.Resource)
	}
	return nil
}

// kindOf finds the registered kind of a Go type without panicking.
func kindOf(o api.Object) (*api.Kind, error) {
	t := reflect.TypeOf(o)
	for _, k := range api.Kinds {
		if reflect.TypeOf(k.New()) == t {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%T is not a kind shoal serves", o)
}

// GetAs reads one object as its Go type, for example
// client.GetAs[api.Pod](ctx, c, "default", "web").
func GetAs[T any, PT interface {
	*T
	api.Object
}](ctx context.Context, c *Client, ns, name string) (PT, error) {
	k, err := kindOf(PT(new(T)))
	if err != nil {
		return nil, err
	}
	obj, err := c.Get(ctx, k, ns, name)
	if err != nil {
		return nil, err
	}
	return asType[T, PT](obj)
}

// ListAs lists objects as their Go type, for example
// client.ListAs[api.Pod](ctx, c, "default", api.ListOptions{}).
func ListAs[T any, PT interface {
	*T
	api.Object
}](ctx context.Context, c *Client, ns string, opts api.ListOptions) ([]PT, string, error) {
	k, err := kindOf(PT(new(T)))
	if err != nil {
		return nil, "", err
	}
	objs, rv, err := c.List(ctx, k, ns, opts)
	if err != nil {
		return nil, "", err
	}
	out := make([]PT, 0, len(objs))
	for _, o := range objs {
		p, err := asType[T, PT](o)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	return out, rv, nil
}

func asType[T any, PT interface {
	*T
	api.Object
}](obj api.Object) (PT, error) {
	p, ok := obj.(PT)
	if !ok {
		return nil, fmt.Errorf("decoded a %T, expected a %T", obj, PT(nil))
	}
	return p, nil
}
