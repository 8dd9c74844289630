package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/patch"
)

// The guards below keep a web browser from being used against an agent: a
// page a user visits may make the browser send requests to
// http://127.0.0.1:7480 (cross-site request forgery), or point a name of its
// own at the agent's address (DNS rebinding) and then read the answers.
//
//   - Writes must declare a Content-Type that shoal accepts for the verb.
//     An HTML form or a "simple" fetch() can only send text/plain,
//     application/x-www-form-urlencoded or multipart/form-data (or nothing);
//     any other type makes the browser ask first (a CORS preflight), which
//     the API never approves.
//   - The Host header must be an IP address, localhost, or one of the
//     agent's names: a rebinding page's requests carry the page's own name.
//   - The exec websocket, which browsers open across sites without asking,
//     accepts no foreign Origin.

// Content types accepted per verb.
var (
	// objectTypes are accepted for a create (POST) or replace (PUT).
	objectTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml", protobufType}
	// applyTypes are accepted by /shoal/v1/apply.
	applyTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "application/json"}
)

// browserSimpleTypes are the types a cross-site form or fetch() may send
// without a preflight; no write may use them.
var browserSimpleTypes = map[string]bool{
	"text/plain":                        true,
	"application/x-www-form-urlencoded": true,
	"multipart/form-data":               true,
}

// isWrite reports whether the method carries a body that changes state.
func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// acceptedTypes returns the content types a write to this path accepts, or
// nil when the path is not one of the API's own (routes added through
// Config.Extra): those only refuse what a browser can send on its own.
func acceptedTypes(r *http.Request) []string {
	p := r.URL.Path
	switch {
	case p == "/shoal/v1/apply":
		return applyTypes
	case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"):
		return objectTypes
	}
	return nil
}

// isStreamUpgrade reports a POST that opens an exec, attach or
// port-forward stream (kubectl's SPDY upgrade): it has no body, and a
// browser cannot send an Upgrade header.
func isStreamUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" || (!strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/")) {
		return false
	}
	for _, sub := range []string{"/exec", "/attach", "/portforward"} {
		if strings.HasSuffix(r.URL.Path, sub) {
			return true
		}
	}
	return false
}

// checkContentType refuses a write whose Content-Type the path does not
// accept, with a 415 naming the accepted types.
func checkContentType(r *http.Request) error {
	if !isWrite(r.Method) || isStreamUpgrade(r) {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPatch && acceptedTypes(r) != nil {
		if _, err := patch.ParseType(ct); err != nil {
			return err
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	accepted := acceptedTypes(r)
	ok := mt != "" && !browserSimpleTypes[mt]
	if accepted != nil {
		ok = contains(accepted, mt)
	}
	if ok {
		return nil
	}
	what := fmt.Sprintf("Content-Type %q", ct)
	if ct == "" {
		what = "a request without a Content-Type"
	}
	want := "a Content-Type such as application/json"
	if accepted != nil {
		want = "Content-Type " + strings.Join(accepted, ", ")
	}
	msg := fmt.Sprintf("%s is not accepted for %s %s; send %s", what, r.Method, r.URL.Path, want)
	return api.NewStatusError(http.StatusUnsupportedMediaType, api.ReasonUnsupportedType, msg)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// isYAML reports whether a request body is declared as YAML.
func isYAML(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.Contains(mt, "yaml")
}

// hostGuard knows the names the agent answers to.
type hostGuard struct {
	names map[string]bool
	list  string // for messages
}

func newHostGuard(names []string) *hostGuard {
	g := &hostGuard{names: map[string]bool{}}
	for _, n := range names {
		if n = normalizeHost(n); n != "" {
			g.names[n] = true
		}
	}
	list := make([]string, 0, len(g.names))
	for n := range g.names {
		list = append(list, n)
	}
	sort.Strings(list)
	g.list = strings.Join(append([]string{"localhost", "IP addresses"}, list...), ", ")
	return g
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// hostOnly strips the port and IPv6 brackets from a Host header.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// check refuses a request whose Host is not a name of this agent. Requests
// on the unix socket, and requests without a Host (HTTP/1.0; no browser
// sends those), pass.
func (g *hostGuard) check(r *http.Request) error {
	if r.Host == "" || viaUnixSocket(r) {
		return nil
	}
	h := normalizeHost(hostOnly(r.Host))
	if _, err := netip.ParseAddr(h); err == nil || h == "localhost" || g.names[h] {
		return nil
	}
	return api.NewStatusError(http.StatusMisdirectedRequest, api.ReasonMisdirected, fmt.Sprintf(
		"the Host %q is not a name of this agent (accepted: %s); use one of those, or start the agent with --api-allowed-hosts %s to accept this name",
		r.Host, g.list, h))
}

func viaUnixSocket(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && a.Network() == "unix"
}

// checkOrigin accepts a websocket request without an Origin (a program, not
// a browser) or from a page of the same host and port; a browser on any
// other site is refused.
func checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return api.NewStatusError(http.StatusForbidden, api.ReasonForbidden, fmt.Sprintf(
		"a websocket from the web page at %q may not use this agent (%s); exec is for programs such as shoal exec, which send no Origin", origin, r.Host))
}

// readBody reads a request body of at most limit bytes, which must arrive
// within timeout.
func readBodyWithin(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		// Once read, the connection has no read deadline again: net/http
		// reads on in the background to notice a client going away, and a
		// deadline there would cancel the request. After an error the
		// deadline stays, so that net/http does not wait for the rest of
		// the body before it answers and closes the connection.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, api.NewTooLarge(limit)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, api.NewStatusError(http.StatusRequestTimeout, api.ReasonTimeout,
				fmt.Sprintf("the request body did not arrive within %s", timeout))
		}
		return nil, api.NewBadRequest("reading request body: " + err.Error())
	}
	return body, nil
}
