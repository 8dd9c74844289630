package ingress

import (
	"net"
	"path"
	"strings"
)

// requestHost is the Host header as rules see it: lower case, without port,
// brackets or a trailing dot.
func requestHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// ruleHost sorts a rule's host into precise ("a.example.com"), wildcard
// (".example.com" for "*.example.com") or any (""). ok is false for hosts no
// request can match, such as "a.*.com".
func ruleHost(h string) (precise, wildcard string, ok bool) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if rest, found := strings.CutPrefix(h, "*."); found {
		if rest == "" || strings.Contains(rest, "*") {
			return "", "", false
		}
		return "", "." + rest, true
	}
	if strings.Contains(h, "*") {
		return "", "", false
	}
	return h, "", true
}

// cleanPath resolves "." and ".." segments and repeated slashes, keeping a
// trailing slash because Exact paths tell "/foo" from "/foo/".
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		return p // "*" of OPTIONS: only a defaultBackend can match it
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// prefixKey is a Prefix path as prefixMatch wants it: cleaned, without
// trailing slashes, so "/" becomes "" and "/foo/" becomes "/foo".
func prefixKey(p string) string {
	return strings.TrimRight(cleanPath(p), "/")
}

// prefixMatch matches whole path elements: "/foo" matches "/foo" and
// "/foo/bar", not "/foobar".
func prefixMatch(prefix, p string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}
