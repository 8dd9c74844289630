package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// GetScale reads the scale subresource of a Deployment or ReplicaSet.
func (c *Client) GetScale(ctx context.Context, k *api.Kind, ns, name string) (*api.Scale, error) {
	if err := needName(k, name); err != nil {
		return nil, err
	}
	var s api.Scale
	if err := c.do(ctx, request{method: "GET", path: k.ObjectPath(ns, name) + "/scale"}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateScale sets the desired replicas of a Deployment or ReplicaSet. A
// resourceVersion in s.metadata makes the server refuse a stale update.
func (c *Client) UpdateScale(ctx context.Context, k *api.Kind, ns, name string, s *api.Scale) (*api.Scale, error) {
	if err := needName(k, name); err != nil {
		return nil, err
	}
	body, err := json.Marshal(newScaleBody(ns, name, s))
	if err != nil {
		return nil, fmt.Errorf("encoding the scale of %s %q: %w", k.Resource, name, err)
	}
	var out api.Scale
	r := request{method: "PUT", path: k.ObjectPath(ns, name) + "/scale", body: body, contentType: "application/json"}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// scaleBody is a Scale on the wire. api.Scale leaves out a zero spec, which
// would make "scale to 0" an empty request; here spec.replicas is always sent.
type scaleBody struct {
	api.TypeMeta `json:",inline"`
	Metadata     api.ObjectMeta `json:"metadata"`
	Spec         struct {
		Replicas int32 `json:"replicas"`
	} `json:"spec"`
}

func newScaleBody(ns, name string, s *api.Scale) *scaleBody {
	b := &scaleBody{TypeMeta: api.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"}, Metadata: s.ObjectMeta}
	if b.Metadata.Name == "" {
		b.Metadata.Name = name
	}
	if b.Metadata.Namespace == "" {
		b.Metadata.Namespace = ns
	}
	b.Spec.Replicas = s.Spec.Replicas
	return b
}

// Logs streams the log of a pod's container. The caller closes the reader;
// with opts.Follow it ends when ctx is done or the container stops.
func (c *Client) Logs(ctx context.Context, ns, pod string, opts api.LogOptions) (io.ReadCloser, error) {
	if err := needName(api.KindPod, pod); err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, request{method: "GET", path: api.KindPod.ObjectPath(ns, pod) + "/log", query: logQuery(opts)})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func logQuery(o api.LogOptions) url.Values {
	q := url.Values{}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.SinceTime != nil && !o.SinceTime.IsZero() {
		q.Set("sinceTime", o.SinceTime.UTC().Format(time.RFC3339))
	}
	return q
}

// ApplyResult is the answer of /shoal/v1/apply: one item per object.
type ApplyResult struct {
	api.TypeMeta `json:",inline"`
	Items        []ApplyItem `json:"items"`
}

// ApplyItem says what apply did to one object.
type ApplyItem struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Namespace  string   `json:"namespace,omitempty"`
	Name       string   `json:"name"`
	Action     string   `json:"action"` // created, configured or unchanged
	Warnings   []string `json:"warnings,omitempty"`
}

// Apply actions.
const (
	ApplyCreated    = "created"
	ApplyConfigured = "configured"
	ApplyUnchanged  = "unchanged"
	// ApplyPruned is the action of an object ApplyPrune deleted.
	ApplyPruned = "pruned"
)

// Apply creates or updates every object of body, one or more YAML or JSON
// documents, in one request; nothing is stored if any document is invalid.
// ns is the namespace of documents that name none; strict turns unknown
// fields into errors.
func (c *Client) Apply(ctx context.Context, ns string, body []byte, strict bool) (*ApplyResult, error) {
	q := url.Values{"strict": {strconv.FormatBool(strict)}}
	if ns != "" {
		q.Set("namespace", ns)
	}
	var out ApplyResult
	r := request{method: "POST", path: "/shoal/v1/apply", query: q, body: body, contentType: "application/yaml"}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApplyPrune is Apply that also deletes, in the same atomic step, the
// objects of the kinds given in namespace ns that match sel and are not
// among the objects applied (as kubectl apply --prune -l SELECTOR). The
// answer lists them after the applied objects, with the action "pruned".
func (c *Client) ApplyPrune(ctx context.Context, ns string, body []byte, strict bool, sel api.Selector, kinds []*api.Kind) (*ApplyResult, error) {
	if sel == nil || sel.Empty() || len(kinds) == 0 {
		return nil, fmt.Errorf("apply with prune needs a label selector and the kinds to prune")
	}
	q := url.Values{"strict": {strconv.FormatBool(strict)}, "prune": {sel.String()}}
	if ns != "" {
		q.Set("namespace", ns)
	}
	for _, k := range kinds {
		q.Add("pruneResource", k.Resource)
	}
	var out ApplyResult
	r := request{method: "POST", path: "/shoal/v1/apply", query: q, body: body, contentType: "application/yaml"}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VersionInfo describes the agent's build.
type VersionInfo struct {
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit,omitempty"`
	BuildDate  string `json:"buildDate,omitempty"`
	GoVersion  string `json:"goVersion,omitempty"`
	Platform   string `json:"platform,omitempty"`
}

// Version asks the agent for its version.
func (c *Client) Version(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	if err := c.do(ctx, request{method: "GET", path: "/version"}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Healthz returns nil when the agent answers /healthz with "ok".
func (c *Client) Healthz(ctx context.Context) error {
	resp, err := c.send(ctx, request{method: "GET", path: "/healthz"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return &ConnectionError{Server: c.server, Err: err}
	}
	if s := strings.TrimSpace(string(b)); s != "ok" {
		return fmt.Errorf("agent at %s is not healthy: %q", c.server, s)
	}
	return nil
}

// Top lists the processes of a pod's container ("" for its only one).
func (c *Client) Top(ctx context.Context, ns, pod, container string) (*api.PodTop, error) {
	if err := needName(api.KindPod, pod); err != nil {
		return nil, err
	}
	q := url.Values{}
	if container != "" {
		q.Set("container", container)
	}
	var out api.PodTop
	if err := c.do(ctx, request{method: "GET", path: api.KindPod.ObjectPath(ns, pod) + "/top", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Evict asks to delete a pod within its PodDisruptionBudget (the
// pods/eviction subresource). A budget that allows no disruption now
// answers a TooManyRequests error (api.IsTooManyRequests): try again later.
// A uid makes sure only that pod is evicted, not a new one that took its
// name (a Conflict error then).
func (c *Client) Evict(ctx context.Context, ns, pod, uid string, gracePeriodSeconds *int64) error {
	ev := api.Eviction{TypeMeta: api.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
		ObjectMeta:    api.ObjectMeta{Name: pod, Namespace: ns},
		DeleteOptions: &api.EvictionDeleteOptions{GracePeriodSeconds: gracePeriodSeconds}}
	if uid != "" {
		ev.DeleteOptions.Preconditions = &api.Preconditions{UID: &uid}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding the eviction of pod %q: %w", pod, err)
	}
	r := request{method: "POST", path: api.KindPod.ObjectPath(ns, pod) + "/eviction", body: body, contentType: "application/json"}
	return c.do(ctx, r, nil)
}
