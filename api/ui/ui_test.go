package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestAssetsServedWithStrictHeaders(t *testing.T) {
	for path, ctype := range map[string]string{
		"/ui/":          "text/html",
		"/ui/app.js":    "text/javascript",
		"/ui/style.css": "text/css",
	} {
		res := get(t, http.MethodGet, path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, got, ctype)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: framing/sniffing headers missing: %v", path, res.Header)
		}
	}
	csp := ContentSecurityPolicy
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP allows %q: %s", bad, csp)
		}
	}
}

func TestRedirectNotFoundAndReadOnly(t *testing.T) {
	if res := get(t, http.MethodGet, "/ui"); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q, want 301 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
	for _, p := range []string{"/ui/nope.js", "/ui/../go.mod", "/ui/static/app.js"} {
		if res := get(t, http.MethodGet, p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	res := get(t, http.MethodPost, "/ui/")
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /ui/: %d Allow %q, want 405 with Allow GET, HEAD", res.StatusCode, res.Header.Get("Allow"))
	}
	if res := get(t, http.MethodGet, "/ui/index.html"); res.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/index.html: %d", res.StatusCode)
	}
}

// The page must work under its own policy: no inline script or style, no
// event-handler attributes, no eval, and the token never in a URL.
func TestPageObeysItsPolicy(t *testing.T) {
	body := func(p string) string {
		b, err := io.ReadAll(get(t, http.MethodGet, p).Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	html := body("/ui/")
	for _, re := range []string{`<script(?:\s[^>]*)?>\s*[^<\s]`, `\son[a-z]+\s*=`, `\sstyle\s*=`, `<style`, `https?://`} {
		if m := regexp.MustCompile(re).FindString(html); m != "" {
			t.Errorf("index.html has %q (pattern %s), which the policy refuses or fetches from elsewhere", m, re)
		}
	}
	js := body("/ui/app.js")
	for _, bad := range []string{"eval(", "new Function", "innerHTML", "localStorage", "access_token", "?token=", "https://", "http://"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js contains %q", bad)
		}
	}
	if !strings.Contains(js, "sessionStorage") || !strings.Contains(js, "Authorization: 'Bearer '") {
		t.Error("app.js should keep the token in sessionStorage and send it in the Authorization header")
	}
}

func TestIsPath(t *testing.T) {
	for p, want := range map[string]bool{"/ui": true, "/ui/": true, "/ui/app.js": true, "/uix": false, "/api/v1/ui": false} {
		if IsPath(p) != want {
			t.Errorf("IsPath(%q) = %v", p, !want)
		}
	}
}
