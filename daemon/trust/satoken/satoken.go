package satoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// Prefix starts every service-account token; user tokens never do.
const Prefix = "shoal-sa.v1."

// DefaultTTL is how long a token is valid; nodes write a new one when a
// fifth of it is left.
const DefaultTTL = time.Hour

// maxTokenSize bounds what is parsed of a bearer token.
const maxTokenSize = 16 << 10

// ErrInvalid is the answer to any token that does not check out; the
// reason is logged, not told.
var ErrInvalid = errors.New("satoken: invalid service-account token")

// Claims are what a token says.
type Claims struct {
	Namespace      string `json:"ns"`
	ServiceAccount string `json:"sa"`
	Pod            string `json:"pod"`
	PodUID         string `json:"uid"`
	Node           string `json:"node"`
	IssuedAt       int64  `json:"iat"`
	Expiry         int64  `json:"exp"`
}

// ServiceAccountOf is the service account a pod runs as.
func ServiceAccountOf(pod *api.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return api.DefaultServiceAccount
}

// Issue signs a token for pod with the node's identity, valid for ttl from now.
func Issue(node *identity.Node, pod *api.Pod, now time.Time, ttl time.Duration) (string, time.Time, error) {
	if node == nil || node.Key == nil || len(node.Chain) == 0 {
		return "", time.Time{}, errors.New("satoken: no node identity to sign with")
	}
	exp := now.Add(ttl)
	c := Claims{Namespace: pod.Namespace, ServiceAccount: ServiceAccountOf(pod), Pod: pod.Name, PodUID: pod.UID,
		Node: node.Name, IssuedAt: now.Unix(), Expiry: exp.Unix()}
	body, err := json.Marshal(c)
	if err != nil {
		return "", time.Time{}, err
	}
	signed := Prefix + b64(body) + "." + b64(node.Leaf().Raw)
	digest := sha256.Sum256([]byte(signed))
	sig, err := ecdsa.SignASN1(rand.Reader, node.Key, digest[:])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("satoken: sign: %w", err)
	}
	return signed + "." + b64(sig), exp, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Pods is how a Verifier finds the pod a token is bound to.
type Pods interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
}

// Verifier checks tokens against the cluster's roots and the pods.
type Verifier struct {
	// Roots returns the CAs node certificates must chain to (they change
	// with a CA rotation).
	Roots func() *x509.CertPool
	Pods  Pods
	Now   func() time.Time
}

// Verify returns the claims of a valid token, or ErrInvalid wrapping why.
func (v *Verifier) Verify(ctx context.Context, tok string) (*Claims, error) {
	if len(tok) > maxTokenSize || !strings.HasPrefix(tok, Prefix) {
		return nil, fmt.Errorf("%w: not a service-account token", ErrInvalid)
	}
	parts := strings.Split(strings.TrimPrefix(tok, Prefix), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	body, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	der, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: malformed: %v", ErrInvalid, err)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: signer certificate: %v", ErrInvalid, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: v.Roots(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("%w: signer certificate: %v", ErrInvalid, err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	signer := identity.NodeName(leaf)
	if !ok || signer == "" {
		return nil, fmt.Errorf("%w: not signed by a node", ErrInvalid)
	}
	digest := sha256.Sum256([]byte(Prefix + parts[0] + "." + parts[1]))
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalid, err)
	}
	if c.Node != signer {
		return nil, fmt.Errorf("%w: node %s signed a token naming node %s", ErrInvalid, signer, c.Node)
	}
	if now.Unix() >= c.Expiry || c.IssuedAt > now.Add(time.Minute).Unix() {
		return nil, fmt.Errorf("%w: expired or not yet valid", ErrInvalid)
	}
	obj, err := v.Pods.Get(ctx, api.KindPod, c.Namespace, c.Pod)
	if err != nil {
		return nil, fmt.Errorf("%w: pod %s/%s: %v", ErrInvalid, c.Namespace, c.Pod, err)
	}
	pod := obj.(*api.Pod)
	if pod.UID != c.PodUID || pod.Spec.NodeName != c.Node || ServiceAccountOf(pod) != c.ServiceAccount || api.IsPodTerminal(pod) {
		return nil, fmt.Errorf("%w: pod %s/%s is not the one the token was issued for", ErrInvalid, c.Namespace, c.Pod)
	}
	return &c, nil
}

// User is who a token's holder is to RBAC, as in Kubernetes.
func (c *Claims) User() *api.UserInfo {
	return &api.UserInfo{Username: "system:serviceaccount:" + c.Namespace + ":" + c.ServiceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + c.Namespace, api.GroupAuthenticated}}
}
