package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/api/ui"
)

// The dashboard's assets answer without a token (they hold no data), with
// its security headers; the API behind them still asks for one, and the
// Host guard covers /ui too.
func TestUIServedWithoutTokenAPIStillGuarded(t *testing.T) {
	srv := server.New(server.Config{Store: nil, Authenticator: anonymous{}, Authorizer: denyAll{}, UI: ui.Handler()})
	do := func(host, path string) *httptest.ResponseRecorder {
		req, _ := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	for _, p := range []string{"/ui/", "/ui/app.js"} {
		rec := do("127.0.0.1", p)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("anonymous GET %s: %d %v, want 200 with CSP and X-Frame-Options DENY", p, rec.Code, rec.Header())
		}
	}
	if rec := do("127.0.0.1", "/api/v1/pods"); rec.Code != http.StatusUnauthorized {
		t.Errorf("anonymous GET /api/v1/pods: %d, want 401", rec.Code)
	}
	if rec := do("evil.example", "/ui/"); rec.Code == http.StatusOK {
		t.Errorf("GET /ui/ with a foreign Host: %d, want a refusal (DNS rebinding)", rec.Code)
	}
	// Without a UI handler, /ui is an API path like any other.
	bare := server.New(server.Config{Store: nil, Authenticator: anonymous{}, Authorizer: denyAll{}})
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/ui/", nil)
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /ui/ on a server without the dashboard: %d, want 401", rec.Code)
	}
}
