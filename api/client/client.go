package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// DefaultServer is the address of the local agent's API.
const DefaultServer = "https://127.0.0.1:7480"

// Client talks to one shoal agent. It is safe for concurrent use.
type Client struct {
	server    string   // the address as given, for messages
	base      *url.URL // scheme and host (and a path prefix, if any) of every request
	token     string
	unixPath  string // set when the server is a unix socket
	http      *http.Client
	onWarning func(string)
	userAgent string
	tlsConfig *tls.Config
}

// Option changes how a Client is built.
type Option func(*Client)

// WithWarningHandler calls f with the text of every warning the server sends
// (HTTP "Warning: 299 - ..." headers), such as unknown fields in an object.
func WithWarningHandler(f func(string)) Option {
	return func(c *Client) { c.onWarning = f }
}

// WithHTTPClient replaces the HTTP client, for TLS settings or tests. It is
// ignored for unix:// servers, which need their own dialer.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// WithTLSConfig sets how https:// servers are trusted and what client
// certificate is offered (see Connection.TLSConfig).
func WithTLSConfig(tc *tls.Config) Option {
	return func(c *Client) { c.tlsConfig = tc }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New makes a client of the agent at server: "http://host:port",
// "https://host:port", "host:port" (https is assumed) or "unix:///path/to.sock".
// token, when not empty, is sent as a bearer token.
func New(server, token string, opts ...Option) (*Client, error) {
	if server == "" {
		server = DefaultServer
	}
	c := &Client{server: server, token: token, userAgent: "shoal-client"}
	for _, o := range opts {
		o(c)
	}
	if err := c.parseServer(server); err != nil {
		return nil, err
	}
	if c.http == nil || c.unixPath != "" {
		c.http = &http.Client{Transport: c.transport()}
	}
	return c, nil
}

// NewFromConnection makes a client from a resolved kubeconfig context.
func NewFromConnection(conn *Connection, opts ...Option) (*Client, error) {
	tc, err := conn.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", conn.Context, err)
	}
	return New(conn.Server, conn.Token, append([]Option{WithTLSConfig(tc)}, opts...)...)
}

func (c *Client) parseServer(server string) error {
	if rest, ok := strings.CutPrefix(server, "unix://"); ok {
		if rest == "" {
			return fmt.Errorf("server %q: a unix socket address needs a path, such as unix:///run/shoal.sock", server)
		}
		c.unixPath = rest
		c.base = &url.URL{Scheme: "http", Host: "unix"}
		return nil
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("server %q: %w", c.server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("server %q: scheme %q is not supported; use http://, https:// or unix://", c.server, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("server %q: no host given", c.server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c.base = u
	return nil
}

func (c *Client) transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if c.tlsConfig != nil {
		t.TLSClientConfig = c.tlsConfig.Clone()
	}
	if c.unixPath != "" {
		t.Proxy = nil
		t.DialContext = c.dialUnix
	}
	return t
}

func (c *Client) dialUnix(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", c.unixPath)
}

// Server returns the address the client talks to, as given to New.
func (c *Client) Server() string { return c.server }

// ConnectionError says the agent could not be reached at all.
type ConnectionError struct {
	Server string
	Err    error
}

func (e *ConnectionError) Error() string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(e.Err, &ua), errors.As(e.Err, &hn), errors.As(e.Err, &cv):
		return fmt.Sprintf("the shoal agent at %s has a certificate this client does not trust: %v (use the kubeconfig the first agent wrote, <data-dir>/admin.kubeconfig, which carries the cluster's CA; or give --certificate-authority)", e.Server, e.Err)
	case strings.Contains(e.Err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("the shoal agent at %s answers plain HTTP, not HTTPS: %v", e.Server, e.Err)
	}
	return fmt.Sprintf("cannot reach the shoal agent at %s: %v (is the agent running? start it with scripts/run)", e.Server, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// request is one API call.
type request struct {
	method      string
	path        string
	query       url.Values
	body        []byte
	bodyReader  io.Reader // a streamed body, instead of body
	contentType string
	header      http.Header // more headers
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = q.Encode()
	return u.String()
}

// send performs the request and returns the response when its status is 2xx;
// otherwise the error the server described. The caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	} else if r.bodyReader != nil {
		body = r.bodyReader
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	c.setHeaders(req.Header)
	req.Header.Set("Accept", "application/json")
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, r, err)
	}
	c.warn(resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, statusFromResponse(resp)
	}
	return resp, nil
}

func (c *Client) setHeaders(h http.Header) {
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		h.Set("User-Agent", c.userAgent)
	}
}

// transportError keeps a cancelled context recognisable and adds the hint
// about starting the agent to everything else.
func (c *Client) transportError(ctx context.Context, r request, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &ConnectionError{Server: c.server, Err: err}
}

// do sends the request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return c.transportError(ctx, r, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", r.method, r.path, err)
	}
	return nil
}

func (c *Client) warn(h http.Header) {
	if c.onWarning == nil {
		return
	}
	for _, v := range h.Values("Warning") {
		if text, ok := parseWarning(v); ok {
			c.onWarning(text)
		}
	}
}

// parseWarning reads an RFC 7234 warning value: `299 - "text"` with an
// optional date after the text.
func parseWarning(v string) (string, bool) {
	code, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || len(code) != 3 {
		return "", false
	}
	_, rest, ok = strings.Cut(strings.TrimSpace(rest), " ") // the agent field
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, `"`) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(rest); i++ {
		switch ch := rest[i]; ch {
		case '\\':
			if i+1 < len(rest) {
				i++
				b.WriteByte(rest[i])
			}
		case '"':
			return b.String(), true
		default:
			b.WriteByte(ch)
		}
	}
	return "", false
}

// statusFromResponse turns an error answer into an *api.StatusError: the
// Status body when there is one, else one made from the HTTP code.
func statusFromResponse(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st api.Status
	if json.Unmarshal(data, &st) == nil && (st.Kind == "Status" || st.Message != "" || st.Reason != "") {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		if st.Reason == "" {
			st.Reason = reasonForCode(resp.StatusCode)
		}
		if st.Status == "" {
			st.Status = "Failure"
		}
		return &api.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(data))
	if msg == "" || len(msg) > 300 || strings.ContainsAny(msg, "\x00<") {
		msg = fmt.Sprintf("the server answered %s", resp.Status)
	}
	return api.NewStatusError(resp.StatusCode, reasonForCode(resp.StatusCode), msg)
}

func reasonForCode(code int) string {
	switch code {
	case http.StatusBadRequest:
		return api.ReasonBadRequest
	case http.StatusUnauthorized:
		return api.ReasonUnauthorized
	case http.StatusForbidden:
		return api.ReasonForbidden
	case http.StatusNotFound:
		return api.ReasonNotFound
	case http.StatusMethodNotAllowed:
		return api.ReasonMethodNotAllow
	case http.StatusConflict:
		return api.ReasonConflict
	case http.StatusGone:
		return api.ReasonGone
	case http.StatusRequestEntityTooLarge:
		return api.ReasonTooLarge
	case http.StatusUnsupportedMediaType:
		return api.ReasonUnsupportedType
	case http.StatusUnprocessableEntity:
		return api.ReasonInvalid
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return api.ReasonUnavailable
	case http.StatusGatewayTimeout:
		return api.ReasonTimeout
	}
	if code >= 500 {
		return api.ReasonInternalError
	}
	return ""
}
