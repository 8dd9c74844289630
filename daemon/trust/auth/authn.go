package auth

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/trust/satoken"
)

// ErrBadToken is the answer to a bearer token that is not (or no longer) a
// credential of this cluster. It says no more: which tokens exist is not
// for a stranger to learn.
var ErrBadToken = errors.New("the bearer token is not valid here: it was revoked, has expired, or belongs to another cluster")

// Authenticator finds who sends a request: a client certificate of the
// cluster's CA (verified by the TLS layer), or a bearer token.
type Authenticator struct {
	cache *Cache
	now   func() time.Time
	// sa checks pods' service-account tokens; nil: they are refused.
	sa *satoken.Verifier
}

// NewAuthenticator authenticates against the cache's tokens.
func NewAuthenticator(c *Cache) *Authenticator { return &Authenticator{cache: c, now: time.Now} }

// WithServiceAccountTokens makes the authenticator take pods'
// service-account tokens, checked by v.
func (a *Authenticator) WithServiceAccountTokens(v *satoken.Verifier) *Authenticator {
	a.sa = v
	return a
}

// Authenticate returns the caller, nil if the request carries no
// credential, or an error for a credential that is not valid.
func (a *Authenticator) Authenticate(r *http.Request) (*api.UserInfo, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, errors.New(`the Authorization header must be "Bearer <token>"`)
		}
		tok = strings.TrimSpace(tok)
		if strings.HasPrefix(tok, satoken.Prefix) {
			if a.sa == nil {
				return nil, ErrBadToken
			}
			c, err := a.sa.Verify(r.Context(), tok)
			if err != nil {
				return nil, ErrBadToken
			}
			return c.User(), nil
		}
		return a.bearer(tok)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return certUser(r.TLS.VerifiedChains[0][0].Subject.CommonName, r.TLS.VerifiedChains[0][0].Subject.Organization), nil
	}
	return nil, nil
}

func certUser(cn string, orgs []string) *api.UserInfo {
	groups := append(slices.Clone(orgs), api.GroupAuthenticated)
	return &api.UserInfo{Username: cn, Groups: groups}
}

func (a *Authenticator) bearer(tok string) (*api.UserInfo, error) {
	name, secret, err := api.ParseBearerToken(tok)
	if err != nil {
		return nil, ErrBadToken
	}
	t := a.cache.token(name)
	if t == nil {
		return nil, ErrBadToken
	}
	want := []byte(t.Spec.Hash)
	got := []byte(api.HashBearerSecret(secret))
	if subtle.ConstantTimeCompare(want, got) != 1 || t.Expired(api.NewTime(a.now())) || t.DeletionTimestamp != nil {
		return nil, ErrBadToken
	}
	return &api.UserInfo{Username: name, Groups: []string{api.GroupAuthenticated}}, nil
}
