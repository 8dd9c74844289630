// Package ui serves the web dashboard at /ui: a page, a script and a style
// sheet embedded in the binary (nothing is fetched from elsewhere at run
// time, and no build step is needed).
//
// The assets hold no data, so they are served without a token. The page
// holds no privilege of its own either: it speaks only to the agent's
// REST API (/api, /apis and /shoal/v1) with the bearer token the user
// typed, which it keeps in sessionStorage and sends only in the
// Authorization header. Every action it offers is checked first with a
// SelfSubjectAccessReview (a button shows only when the caller may use it)
// and is authorised again by the server when it is sent.
//
// Every answer carries a strict Content-Security-Policy (scripts and
// styles from the agent only, no inline script, no eval, no framing) and
// X-Frame-Options DENY, so that a page elsewhere cannot frame the
// dashboard or run code in its origin.
package ui
