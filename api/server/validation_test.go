package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
)

const cmUnknownAndDuplicate = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","bogus":1},"data":{"a":"1","a":"2"}}`

func TestFieldValidationStrictRefusesWarnWarnsIgnoreIsSilent(t *testing.T) {
	ts, objs := newServer(t)
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"

	// Strict: a 400 naming every unknown and duplicate field; nothing stored.
	resp, b := do(t, http.MethodPost, coll+"?fieldValidation=Strict", "application/json", cmUnknownAndDuplicate)
	st := status(t, b)
	if resp.StatusCode != http.StatusBadRequest || st.Reason != api.ReasonBadRequest ||
		!strings.Contains(st.Message, `strict decoding error: unknown field "metadata.bogus", duplicate field "data.a"`) {
		t.Fatalf("Strict: %d %s", resp.StatusCode, st.Message)
	}
	if _, err := objs.Get(context.Background(), api.KindConfigMap, "default", "cm"); !api.IsNotFound(err) {
		t.Fatalf("a refused create stored the object: %v", err)
	}

	// Invalid values are refused, naming the parameter.
	resp, b = do(t, http.MethodPost, coll+"?fieldValidation=strict", "application/json", cmUnknownAndDuplicate)
	if st := status(t, b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, `fieldValidation: invalid value "strict"`) {
		t.Fatalf("invalid fieldValidation: %d %s", resp.StatusCode, st.Message)
	}

	// Warn (also the default): created, a Warning header each.
	resp, _ = do(t, http.MethodPost, coll+"?fieldValidation=Warn", "application/json", cmUnknownAndDuplicate)
	want := []string{`299 - "unknown field \"metadata.bogus\""`, `299 - "duplicate field \"data.a\""`}
	if resp.StatusCode != http.StatusCreated || !slices.Equal(resp.Header.Values("Warning"), want) {
		t.Fatalf("Warn: %d, warnings %q, want %q", resp.StatusCode, resp.Header.Values("Warning"), want)
	}

	// Ignore: no warning.
	body := strings.Replace(cmUnknownAndDuplicate, `"cm"`, `"cm2"`, 1)
	resp, _ = do(t, http.MethodPost, coll+"?fieldValidation=Ignore", "application/json", body)
	if resp.StatusCode != http.StatusCreated || len(resp.Header.Values("Warning")) != 0 {
		t.Fatalf("Ignore: %d, warnings %q", resp.StatusCode, resp.Header.Values("Warning"))
	}

	// Update and patch validate the same way.
	put := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"3"},"extra":true}`
	resp, b = do(t, http.MethodPut, coll+"/cm?fieldValidation=Strict", "application/json", put)
	if st := status(t, b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, `unknown field "extra"`) {
		t.Fatalf("Strict update: %d %s", resp.StatusCode, st.Message)
	}
	resp, b = do(t, http.MethodPatch, coll+"/cm?fieldValidation=Strict", "application/merge-patch+json", `{"data":{"b":"1"},"spec":{"x":1}}`)
	if st := status(t, b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, `unknown field "spec"`) {
		t.Fatalf("Strict patch: %d %s", resp.StatusCode, st.Message)
	}
	got, err := objs.Get(context.Background(), api.KindConfigMap, "default", "cm")
	if err != nil || got.(*api.ConfigMap).Data["b"] != "" || got.(*api.ConfigMap).Data["a"] != "2" {
		t.Fatalf("a refused update or patch changed the object: %+v %v", got, err)
	}
	resp, _ = do(t, http.MethodPatch, coll+"/cm", "application/merge-patch+json", `{"data":{"b":"1","b":"2"}}`)
	if resp.StatusCode != http.StatusOK || !slices.Equal(resp.Header.Values("Warning"), []string{`299 - "duplicate field \"data.b\""`}) {
		t.Fatalf("patch with a duplicate, default validation: %d %q", resp.StatusCode, resp.Header.Values("Warning"))
	}
}

func TestFieldValidationCoversScale(t *testing.T) {
	ts, _ := newServer(t)
	do(t, http.MethodPost, ts.URL+"/apis/apps/v1/namespaces/default/deployments", "application/yaml", deployYAML)
	scale := ts.URL + "/apis/apps/v1/namespaces/default/deployments/web/scale"
	resp, b := do(t, http.MethodPatch, scale+"?fieldValidation=Strict", "application/merge-patch+json", `{"spec":{"replica":3}}`)
	if st := status(t, b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, `unknown field "spec.replica"`) {
		t.Fatalf("Strict scale patch: %d %s", resp.StatusCode, st.Message)
	}
	resp, _ = do(t, http.MethodPatch, scale, "application/merge-patch+json", `{"spec":{"replicas":3,"replica":3}}`)
	if resp.StatusCode != http.StatusOK || !slices.Equal(resp.Header.Values("Warning"), []string{`299 - "unknown field \"spec.replica\""`}) {
		t.Fatalf("scale patch, default validation: %d %q", resp.StatusCode, resp.Header.Values("Warning"))
	}
}

func TestApplyValidatesFieldsOfEachDocument(t *testing.T) {
	ts, _ := newServer(t)
	doc := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"1","k":"2"},"bogus":1}`
	resp, b := do(t, http.MethodPost, ts.URL+"/shoal/v1/apply?fieldValidation=Strict", "application/json", doc)
	if st := status(t, b); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(st.Message, `strict decoding error: unknown field "bogus", duplicate field "data.k"`) {
		t.Fatalf("strict apply: %d %s", resp.StatusCode, st.Message)
	}
	resp, b = do(t, http.MethodPost, ts.URL+"/shoal/v1/apply", "application/json", doc)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `ConfigMap a: duplicate field \"data.k\"`) {
		t.Fatalf("apply: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, http.MethodPost, ts.URL+"/shoal/v1/apply?fieldValidation=Bad", "application/json", doc)
	if st := status(t, b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.Message, "fieldValidation") {
		t.Fatalf("apply with a bad fieldValidation: %d %s", resp.StatusCode, st.Message)
	}
}

// anonymous finds no credential on any request.
type anonymous struct{}

func (anonymous) Authenticate(*http.Request) (*api.UserInfo, error) { return nil, nil }

// denyAll refuses everything, so a 401 can only come from authentication.
type denyAll struct{}

func (denyAll) Authorize(context.Context, *api.UserInfo, api.AccessRequest) (bool, string) {
	return false, "denied"
}
func (denyAll) AdmitWrite(context.Context, *api.UserInfo, api.Object) error { return nil }

func TestDiscoveryAndOpenAPINeedCredentials(t *testing.T) {
	srv := server.New(server.Config{Store: nil, Authenticator: anonymous{}, Authorizer: denyAll{}})
	for _, path := range []string{"/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d, want 401", path, rec.Code)
		}
	}
}
