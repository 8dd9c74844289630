package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/shoal-dev/shoal/api"
)

// ErrorObject is the Object of an ERROR watch event: the Status the server
// sent, such as 410 Expired when the asked resourceVersion is too old. It is an
// error that unwraps to *api.StatusError, so api.IsGone(EventError(ev)) works.
type ErrorObject struct {
	api.TypeMeta   `json:",inline"`
	api.ObjectMeta `json:"metadata,omitzero"`
	Status         api.Status `json:"-"`
}

func (e *ErrorObject) Error() string { return e.Status.Message }

// Unwrap returns the Status as an *api.StatusError.
func (e *ErrorObject) Unwrap() error { return &api.StatusError{ErrStatus: e.Status} }

// EventError returns the error an ERROR event carries, and nil for any other
// event.
func EventError(ev api.WatchEvent) error {
	if ev.Type != api.Error {
		return nil
	}
	var eo *ErrorObject
	if o, ok := ev.Object.(*ErrorObject); ok {
		eo = o
	}
	if eo == nil {
		return api.NewStatusError(http.StatusInternalServerError, api.ReasonInternalError, "watch: an ERROR event without a Status")
	}
	return eo.Unwrap()
}

type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// Watch streams the changes to objects of a kind in ns ("" for all
// namespaces). Without opts.ResourceVersion the server first sends ADDED for
// every existing object. The channel closes when ctx is done or the stream
// ends; a broken or unreadable stream ends with one ERROR event.
func (c *Client) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	q := url.Values{"watch": {"true"}}
	if !opts.LabelSelector.Empty() {
		q.Set("labelSelector", opts.LabelSelector.String())
	}
	if !opts.FieldSelector.Empty() {
		q.Set("fieldSelector", opts.FieldSelector.String())
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	resp, err := c.send(ctx, request{method: "GET", path: k.CollectionPath(ns), query: q})
	if err != nil {
		return nil, err
	}
	ch := make(chan api.WatchEvent)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		readEvents(ctx, k, resp.Body, ch)
	}()
	return ch, nil
}

func readEvents(ctx context.Context, k *api.Kind, body io.Reader, ch chan<- api.WatchEvent) {
	dec := json.NewDecoder(body)
	for {
		var raw rawEvent
		err := dec.Decode(&raw)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				send(ctx, ch, errorEvent(api.ReasonInternalError, "watch stream broken: "+err.Error()))
			}
			return
		}
		ev, err := decodeEvent(k, raw)
		if err != nil {
			send(ctx, ch, errorEvent(api.ReasonInternalError, "watch: "+err.Error()))
			return
		}
		if !send(ctx, ch, ev) {
			return
		}
	}
}

func send(ctx context.Context, ch chan<- api.WatchEvent, ev api.WatchEvent) bool {
	select {
	case ch <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func decodeEvent(k *api.Kind, raw rawEvent) (api.WatchEvent, error) {
	if raw.Type == api.Error {
		var st api.Status
		if err := json.Unmarshal(raw.Object, &st); err != nil {
			return api.WatchEvent{}, err
		}
		if st.Reason == "" {
			st.Reason = reasonForCode(int(st.Code))
		}
		return api.WatchEvent{Type: api.Error, Object: &ErrorObject{Status: st}}, nil
	}
	obj, err := decodeObject(k, raw.Object)
	if err != nil {
		return api.WatchEvent{}, err
	}
	return api.WatchEvent{Type: raw.Type, Object: obj}, nil
}

func errorEvent(reason, msg string) api.WatchEvent {
	st := api.NewStatusError(http.StatusInternalServerError, reason, msg).ErrStatus
	return api.WatchEvent{Type: api.Error, Object: &ErrorObject{Status: st}}
}
