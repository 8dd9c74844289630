package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// ContentSecurityPolicy allows the page scripts, styles and fetches of its
// own origin only: no inline script or style element, no eval, no plugin,
// no framing, no form posting elsewhere.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// IsPath reports whether a request path belongs to the dashboard.
func IsPath(p string) bool { return p == "/ui" || strings.HasPrefix(p, Prefix) }

// Handler serves the dashboard's assets under /ui/: /ui and /ui/ give the
// page, anything that is not an asset a 404. Only GET and HEAD are served.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Assets change with the binary; revalidating is cheap.
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard's assets are read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/ui" {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/ui")
		if name == "" || name == "/" {
			name = "/index.html"
		}
		if _, err := fs.Stat(sub, strings.TrimPrefix(name, "/")); err != nil {
			http.Error(w, "no such dashboard asset: "+name, http.StatusNotFound)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = name
		if name == "/index.html" {
			// The file server redirects a path ending in /index.html.
			r2.URL.Path = "/"
			http.ServeFileFS(w, r2, sub, "index.html")
			return
		}
		files.ServeHTTP(w, r2)
	})
}
