package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Lists come in pages of limit objects, each with the first page's
// resourceVersion, until continue is empty.
func TestListPagesWithLimitAndContinue(t *testing.T) {
	ts, objs := newServer(t)
	for i := range 5 {
		if _, err := objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: "default"}}); err != nil {
			t.Fatal(err)
		}
	}
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"
	var names []string
	var rv string
	next := coll + "?limit=2"
	for pages := 0; next != ""; pages++ {
		resp, b := do(t, http.MethodGet, next, "", "")
		if resp.StatusCode != http.StatusOK || pages > 3 {
			t.Fatalf("page %d: %d %s", pages, resp.StatusCode, b)
		}
		var l api.List[api.ConfigMap]
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Items) > 2 || (rv != "" && l.ListMeta.ResourceVersion != rv) {
			t.Fatalf("page %d: %d items at %s (list at %s)", pages, len(l.Items), l.ListMeta.ResourceVersion, rv)
		}
		rv = l.ListMeta.ResourceVersion
		for _, it := range l.Items {
			names = append(names, it.Name)
		}
		next = ""
		if l.ListMeta.Continue != "" {
			next = coll + "?limit=2&continue=" + l.ListMeta.Continue
		}
	}
	if strings.Join(names, ",") != "cm-0,cm-1,cm-2,cm-3,cm-4" {
		t.Fatalf("pages held %v", names)
	}
}

// Options Kubernetes refuses are refused with a 400 naming the parameter,
// and a field selector narrows a list.
func TestListOptionsChecked(t *testing.T) {
	ts, objs := newServer(t)
	objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "a", Namespace: "default"}})
	objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "b", Namespace: "default"}})
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"
	for q, field := range map[string]string{
		"?limit=-1":                   "limit",
		"?continue=garbage":           "continue",
		"?resourceVersionMatch=Exact": "resourceVersionMatch",
		"?resourceVersion=0&resourceVersionMatch=Exact":                        "resourceVersionMatch",
		"?resourceVersionMatch=Newest&resourceVersion=1":                       "resourceVersionMatch",
		"?sendInitialEvents=true":                                              "sendInitialEvents",
		"?watch=true&sendInitialEvents=true":                                   "resourceVersionMatch",
		"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan": "allowWatchBookmarks",
		"?watch=true&resourceVersionMatch=NotOlderThan":                        "resourceVersionMatch",
		"?fieldSelector=data.x%3D1":                                            "data.x",
		"?timeoutSeconds=soon&watch=true":                                      "timeoutSeconds",
	} {
		resp, b := do(t, http.MethodGet, coll+q, "", "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(status(t, b).Message, field) {
			t.Errorf("%s: want a 400 naming %s, got %d %s", q, field, resp.StatusCode, b)
		}
	}
	resp, b := do(t, http.MethodGet, coll+"?fieldSelector=metadata.name%3Db", "", "")
	var l api.List[api.ConfigMap]
	json.Unmarshal(b, &l)
	if resp.StatusCode != http.StatusOK || len(l.Items) != 1 || l.Items[0].Name != "b" {
		t.Fatalf("fieldSelector metadata.name=b: %d %s", resp.StatusCode, b)
	}
	// An exact list of an old version: 410 Expired, as for a compacted one.
	resp, b = do(t, http.MethodGet, coll+"?resourceVersion=1&resourceVersionMatch=Exact", "", "")
	if resp.StatusCode != http.StatusGone || status(t, b).Reason != "Expired" {
		t.Fatalf("exact list at 1: %d %s", resp.StatusCode, b)
	}
}

// A streaming list (sendInitialEvents=true) over HTTP: the objects, then
// the bookmark annotated k8s.io/initial-events-end; timeoutSeconds ends
// the stream.
func TestWatchSendInitialEventsAndTimeout(t *testing.T) {
	ts, objs := newServer(t)
	objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "a", Namespace: "default"}})
	start := time.Now()
	resp, err := http.Get(ts.URL + "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true" +
		"&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var types []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev struct {
			Type   string `json:"type"`
			Object struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name            string            `json:"name"`
					ResourceVersion string            `json:"resourceVersion"`
					Annotations     map[string]string `json:"annotations"`
				} `json:"metadata"`
			} `json:"object"`
		}
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		types = append(types, ev.Type+" "+ev.Object.Kind+" "+ev.Object.Metadata.Name+" "+ev.Object.Metadata.Annotations[api.InitialEventsEndAnnotation])
		if ev.Type == api.Bookmark && ev.Object.Metadata.ResourceVersion == "" {
			t.Fatalf("a bookmark without a resourceVersion: %s", sc.Text())
		}
	}
	if got := strings.Join(types, "; "); got != "ADDED ConfigMap a ; BOOKMARK ConfigMap  true" {
		t.Fatalf("stream: %s", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the watch with timeoutSeconds=1 lasted %s", d)
	}
}

// A version newer than the store has reached (from an agent whose clock is
// ahead) is a 504 with the cause ResourceVersionTooLarge, on which client-go
// lists again; for lists and for watches.
func TestTooLargeResourceVersion(t *testing.T) {
	ts, _ := newServer(t)
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"
	far := "18446744073709551000"
	for _, q := range []string{"?resourceVersion=" + far, "?resourceVersion=" + far + "&resourceVersionMatch=NotOlderThan", "?watch=true&resourceVersion=" + far} {
		resp, b := do(t, http.MethodGet, coll+q, "", "")
		st := status(t, b)
		if resp.StatusCode != http.StatusGatewayTimeout || st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != api.CauseResourceVersionTooLarge {
			t.Errorf("%s: want 504 ResourceVersionTooLarge, got %d %s", q, resp.StatusCode, b)
		}
	}
	if resp, b := do(t, http.MethodGet, coll+"?resourceVersion=abc", "", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("resourceVersion=abc: %d %s", resp.StatusCode, b)
	}
}

// A paged list (the store decodes one page at a time) gives, page after
// page, what one whole list gives: across namespaces (whose names sort
// around the "/" of the continue key), with a label selector skipping
// objects, pages of every size.
func TestPagedListsEqualTheWholeList(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	for _, ns := range []string{"a", "a-b", "b"} {
		if ns != "default" {
			if _, err := objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 4 {
			labels := map[string]string{"keep": fmt.Sprint(i%3 != 1)}
			if _, err := objs.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: ns, Labels: labels}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := func(url string) []string {
		var out []string
		next := url
		for pages := 0; next != ""; pages++ {
			resp, b := do(t, http.MethodGet, next, "", "")
			if resp.StatusCode != http.StatusOK || pages > 20 {
				t.Fatalf("%s: %d %s", next, resp.StatusCode, b)
			}
			var l api.List[api.ConfigMap]
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			for _, it := range l.Items {
				out = append(out, it.Namespace+"/"+it.Name)
			}
			next = ""
			if l.ListMeta.Continue != "" {
				sep := "?"
				if strings.Contains(url, "?") {
					sep = "&"
				}
				next = url + sep + "continue=" + l.ListMeta.Continue
			}
		}
		return out
	}
	for _, sel := range []string{"", "labelSelector=keep%3Dtrue"} {
		base := ts.URL + "/api/v1/configmaps"
		whole := names(base + "?" + sel)
		if len(whole) == 0 {
			t.Fatalf("no configmaps listed with %q", sel)
		}
		for _, limit := range []int{1, 2, 3, 5, 100} {
			got := names(fmt.Sprintf("%s?%s&limit=%d", base, sel, limit))
			if strings.Join(got, ",") != strings.Join(whole, ",") {
				t.Errorf("selector %q, limit %d:\n%v\nwant\n%v", sel, limit, got, whole)
			}
		}
	}
}
