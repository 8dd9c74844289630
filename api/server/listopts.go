package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// listRequest is what a list or watch request asks for beyond the
// store's ListOptions: a page of a list, or how long a watch may last.
type listRequest struct {
	opts  api.ListOptions
	watch bool
	// exact: list exactly at opts.ResourceVersion (resourceVersionMatch=Exact).
	exact bool
	limit int64
	// cont is the position a continued list resumes after (nil: from the start).
	cont *continueToken
	// timeout ends a watch (timeoutSeconds); zero: the client ends it.
	timeout time.Duration
}

// continueToken is the opaque `continue` of a list page: the list's
// resourceVersion and the last object of the page sent.
type continueToken struct {
	RV    string `json:"rv"`
	After string `json:"after"` // namespace/name
}

func (c continueToken) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (*continueToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c continueToken
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.RV == "" || c.After == "" {
		return nil, api.NewBadRequest("continue: not a token from this API; start the list again without continue")
	}
	return &c, nil
}

// parseListRequest reads the list and watch options of a request's query,
// checking them as Kubernetes does: a client gets the refusal it expects
// (and falls back) rather than an answer to a different question.
func parseListRequest(q url.Values, k *api.Kind) (listRequest, error) {
	var lr listRequest
	bad := func(field, msg string) (listRequest, error) {
		return lr, api.NewBadRequest(field + ": " + msg)
	}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := api.ParseSelector(s)
		if err != nil {
			return bad("labelSelector", err.Error())
		}
		lr.opts.LabelSelector = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		sel, err := api.ParseFieldSelector(k, s)
		if err != nil {
			return lr, api.NewBadRequest(err.Error())
		}
		lr.opts.FieldSelector = sel
	}
	boolParam := func(name string) (bool, bool, error) {
		s := q.Get(name)
		if s == "" {
			return false, false, nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, false, api.NewBadRequest(name + ": must be true or false")
		}
		return b, true, nil
	}
	var err error
	if lr.watch, _, err = boolParam("watch"); err != nil {
		return lr, err
	}
	if lr.opts.Bookmarks, _, err = boolParam("allowWatchBookmarks"); err != nil {
		return lr, err
	}
	initial, initialSet, err := boolParam("sendInitialEvents")
	if err != nil {
		return lr, err
	}
	rv, match := q.Get("resourceVersion"), q.Get("resourceVersionMatch")
	lr.opts.ResourceVersion = rv
	if match != "" && match != "NotOlderThan" && match != "Exact" {
		return bad("resourceVersionMatch", strconv.Quote(match)+" is not supported; use NotOlderThan or Exact")
	}
	if s := q.Get("limit"); s != "" {
		if lr.limit, err = strconv.ParseInt(s, 10, 64); err != nil || lr.limit < 0 {
			return bad("limit", "must be a non-negative integer")
		}
	}
	if s := q.Get("timeoutSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return bad("timeoutSeconds", "must be a non-negative integer")
		}
		lr.timeout = time.Duration(n) * time.Second
	}
	if lr.watch {
		switch {
		case initialSet && match != "NotOlderThan":
			return bad("resourceVersionMatch", "sendInitialEvents requires resourceVersionMatch=NotOlderThan")
		case initialSet && initial && !lr.opts.Bookmarks:
			return bad("allowWatchBookmarks", "sendInitialEvents=true requires allowWatchBookmarks=true")
		case !initialSet && match != "":
			return bad("resourceVersionMatch", "is forbidden for a watch unless sendInitialEvents is given")
		}
		if initialSet {
			lr.opts.InitialEvents = initial && rv != "" && rv != "0"
			lr.opts.NoInitialEvents = !initial
			lr.opts.InitialEventsBookmark = initial
		}
		return lr, nil
	}
	if initialSet {
		return bad("sendInitialEvents", "is forbidden for a list; it is a watch option")
	}
	if c := q.Get("continue"); c != "" {
		if rv != "" || match != "" {
			return bad("resourceVersion", "may not be given with continue: the token holds the list's resourceVersion")
		}
		if lr.cont, err = decodeContinue(c); err != nil {
			return lr, err
		}
	}
	if match != "" && rv == "" {
		return bad("resourceVersionMatch", "is forbidden unless resourceVersion is given")
	}
	if match == "Exact" {
		if rv == "0" {
			return bad("resourceVersionMatch", "Exact is forbidden with resourceVersion=0")
		}
		lr.exact = true
	}
	return lr, nil
}

// page filters items by the field selector, then cuts the page the
// request asks for, returning it with the list's resourceVersion and the
// continue token of the rest. Pages after the first are read from the
// current state (shoal keeps no older states): an object changed between
// pages shows in the page it falls in as it is now, and a watch from the
// list's resourceVersion (the first page's) replays every change since,
// so a client listing then watching misses nothing.
func (lr listRequest) page(items []api.Object, rv string) ([]api.Object, string, string) {
	if !lr.opts.FieldSelector.Empty() {
		kept := items[:0:0]
		for _, it := range items {
			if lr.opts.FieldSelector.Matches(it) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if lr.cont == nil && lr.limit == 0 {
		return items, rv, ""
	}
	key := func(o api.Object) string {
		m := o.GetObjectMeta()
		return m.Namespace + "/" + m.Name
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	if lr.cont != nil {
		rv = lr.cont.RV
		i := sort.Search(len(items), func(i int) bool { return key(items[i]) > lr.cont.After })
		items = items[i:]
	}
	if lr.limit == 0 || int64(len(items)) <= lr.limit {
		return items, rv, ""
	}
	items = items[:lr.limit]
	return items, rv, continueToken{RV: rv, After: key(items[len(items)-1])}.encode()
}

// notNewerThan checks a list's resourceVersion against the store's
// current one: the current state is not older than any version this agent
// handed out, but one from an agent whose clock is ahead may be newer
// (504 ResourceVersionTooLarge: the client lists again without it).
func notNewerThan(rv, current string) error {
	if rv == "" || rv == "0" {
		return nil
	}
	num := func(s string) (uint64, error) {
		head, _, _ := strings.Cut(s, ".")
		return strconv.ParseUint(head, 10, 64)
	}
	want, err := num(rv)
	if err != nil {
		return api.NewBadRequest("resourceVersion: " + strconv.Quote(rv) + " is not a resource version from this API")
	}
	if cur, err := num(current); err == nil && want > cur {
		return api.NewTooLargeResourceVersion(rv, current)
	}
	return nil
}

// listRequestOf parses a request's list options, answering the error.
func listRequestOf(w http.ResponseWriter, r *http.Request, k *api.Kind) (listRequest, bool) {
	lr, err := parseListRequest(r.URL.Query(), k)
	if err != nil {
		writeError(w, err)
		return lr, false
	}
	return lr, true
}
