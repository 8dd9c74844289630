package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoal-dev/shoal/api"
)

// Paths of the join protocol, served on the gossip port over TLS.
const (
	JoinCAPath = "/shoal/v1/join/ca"
	JoinPath   = "/shoal/v1/join"
)

// JoinRequest is what a new agent sends, over TLS verified against the
// CA its token pins.
type JoinRequest struct {
	Secret string   `json:"secret"`
	Name   string   `json:"name"`
	CSR    []byte   `json:"csr"` // PEM certificate request, proving the key
	IPs    []string `json:"ips,omitempty"`
}

// JoinResponse admits it.
type JoinResponse struct {
	Chain   []byte  `json:"chain"`   // PEM: its certificate, then intermediates
	Trusted []byte  `json:"trusted"` // PEM: the roots to trust
	Keyring Keyring `json:"keyring"`
}

// Authority is what an agent consults to admit another: the cluster
// records, and membership (a name may not be taken from a live member).
type Authority interface {
	CAState() (*CAState, error)
	JoinState() (*JoinState, error)
	Keyring() (*Keyring, error)
	// CheckJoinName refuses a name a live member uses at another address.
	CheckJoinName(name string, ips []net.IP) error
}

// maxJoinBody bounds a join request.
const maxJoinBody = 64 << 10

// JoinHandler serves the join protocol.
type JoinHandler struct {
	auth     Authority
	log      *slog.Logger
	now      func() time.Time
	validity time.Duration
	// limit bounds join attempts, so that the secret cannot be guessed at
	// speed (it has 128 bits anyway) and requests cannot load the CA.
	limit *rate.Limiter
}

// NewJoinHandler serves joins; validity is the lifetime of the node
// certificates it issues (0: the default).
func NewJoinHandler(auth Authority, validity time.Duration, log *slog.Logger) *JoinHandler {
	return &JoinHandler{auth: auth, log: log.With("component", "join"), now: time.Now, validity: validity,
		limit: rate.NewLimiter(rate.Limit(20), 40)}
}

// Register mounts the join paths on mux.
func (h *JoinHandler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+JoinCAPath, h.serveCA)
	mux.HandleFunc("POST "+JoinPath, h.serveJoin)
}

func (h *JoinHandler) serveCA(w http.ResponseWriter, _ *http.Request) {
	st, err := h.auth.CAState()
	if err != nil {
		joinError(w, http.StatusServiceUnavailable, "this agent has no cluster CA yet: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(st.Trusted)
}

func (h *JoinHandler) serveJoin(w http.ResponseWriter, r *http.Request) {
	from, _, _ := net.SplitHostPort(r.RemoteAddr)
	if !h.limit.Allow() {
		joinError(w, http.StatusTooManyRequests, "too many join requests; try again in a second")
		return
	}
	var req JoinRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJoinBody))
	if err == nil {
		err = strictJSON(body, &req)
	}
	if err != nil {
		h.refuse(w, from, "", http.StatusBadRequest, "malformed join request: "+err.Error())
		return
	}
	js, err := h.auth.JoinState()
	if err != nil {
		joinError(w, http.StatusServiceUnavailable, "this agent cannot admit agents yet: "+err.Error())
		return
	}
	if !js.Check(req.Secret) {
		h.refuse(w, from, req.Name, http.StatusForbidden, "the join token's secret is not this cluster's current one (rotated? print the current token with `shoal join-token` on a member)")
		return
	}
	if errs := api.IsDNS1123Subdomain(req.Name); len(errs) > 0 {
		h.refuse(w, from, req.Name, http.StatusBadRequest, fmt.Sprintf("node name %q: %s", req.Name, errs[0]))
		return
	}
	var ips []net.IP
	for _, s := range req.IPs {
		ip := net.ParseIP(s)
		if ip == nil || len(ips) >= 16 {
			h.refuse(w, from, req.Name, http.StatusBadRequest, fmt.Sprintf("ips: %q is not an IP address (at most 16)", s))
			return
		}
		ips = append(ips, ip)
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		h.refuse(w, from, req.Name, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.auth.CheckJoinName(req.Name, ips); err != nil {
		h.refuse(w, from, req.Name, http.StatusConflict, err.Error())
		return
	}
	st, err := h.auth.CAState()
	var p *Parsed
	if err == nil {
		p, err = st.Parse()
	}
	var kr *Keyring
	if err == nil {
		kr, err = h.auth.Keyring()
	}
	if err != nil {
		joinError(w, http.StatusServiceUnavailable, "this agent cannot admit agents yet: "+err.Error())
		return
	}
	leaf, err := p.CA.IssueNode(NodeRequest{Name: req.Name, IPs: ips, PublicKey: csr.PublicKey, Validity: h.validity}, h.now())
	if err != nil {
		joinError(w, http.StatusInternalServerError, "issuing the certificate failed: "+err.Error())
		return
	}
	chain := []*x509.Certificate{leaf}
	if p.CrossSigned != nil {
		chain = append(chain, p.CrossSigned)
	}
	h.log.Info("admitted an agent to the cluster", "name", req.Name, "from", from, "ips", req.IPs)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(JoinResponse{Chain: EncodeCerts(chain...), Trusted: st.Trusted, Keyring: *kr})
}

// refuse answers a refused join and says why in one log line.
func (h *JoinHandler) refuse(w http.ResponseWriter, from, name string, code int, why string) {
	h.log.Warn("refused an agent's join: "+why, "name", name, "from", from)
	joinError(w, code, why)
}

type joinErrorBody struct {
	Message string `json:"message"`
}

func joinError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(joinErrorBody{Message: msg})
}

func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr: want a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return csr, nil
}

// RefusedError is a join an agent answered with a refusal: retrying with
// the same token will not help.
type RefusedError struct {
	Peer    string
	Code    int
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the agent at %s refused the join: %s", e.Peer, e.Message)
}

// Permanent reports whether asking again cannot help (a refusal, not an
// agent that is busy or not ready).
func (e *RefusedError) Permanent() bool {
	return e.Code == 0 || e.Code >= 400 && e.Code < 500 && e.Code != http.StatusTooManyRequests
}

// Joined is what a join brings back.
type Joined struct {
	Node    *Node
	Keyring Keyring
	Via     string
}

// Join asks the agent at addr (host:port of its gossip port) to admit this
// one under name, with a certificate for ips. It trusts that agent only if
// its CA is the one the token pins.
func Join(ctx context.Context, addr string, token JoinToken, name string, ips []net.IP) (*Joined, error) {
	bundle, err := fetchCA(ctx, addr)
	if err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(bundle, func(c *x509.Certificate) bool { return Fingerprint(c) == token.CAFingerprint })
	if idx < 0 {
		return nil, &RefusedError{Peer: addr, Message: "its cluster CA is not the one the join token names (an agent of another cluster, or a token of another cluster)"}
	}
	pinned := x509.NewCertPool()
	pinned.AddCert(bundle[idx])

	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	req := JoinRequest{Secret: token.Secret, Name: name, CSR: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})}
	for _, ip := range ips {
		req.IPs = append(req.IPs, ip.String())
	}
	body, _ := json.Marshal(req)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error { return verifyPeer(cs, pinned, "") }}
	resp, err := post(ctx, tc, "https://"+addr+JoinPath, body)
	if err != nil {
		return nil, err
	}
	var jr JoinResponse
	if err := strictJSON(resp, &jr); err != nil {
		return nil, fmt.Errorf("join answer from %s: %w", addr, err)
	}
	n := &Node{Name: name, Key: key}
	if n.Chain, err = ParseCerts(jr.Chain); err != nil {
		return nil, fmt.Errorf("join answer from %s: %w", addr, err)
	}
	if n.Trust, err = ParseCerts(jr.Trusted); err != nil {
		return nil, fmt.Errorf("join answer from %s: %w", addr, err)
	}
	if !slices.ContainsFunc(n.Trust, bundle[idx].Equal) {
		return nil, fmt.Errorf("join answer from %s: the trust bundle lacks the CA the token names", addr)
	}
	if err := n.Verify(time.Now()); err != nil {
		return nil, fmt.Errorf("join answer from %s: the issued certificate does not verify: %w", addr, err)
	}
	if _, err := jr.Keyring.Decode(); err != nil {
		return nil, fmt.Errorf("join answer from %s: %w", addr, err)
	}
	return &Joined{Node: n, Keyring: jr.Keyring, Via: addr}, nil
}

func fetchCA(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	// Unverified on purpose: what it returns is checked against the
	// token's fingerprint before anything is trusted or sent.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	b, err := get(ctx, tc, "https://"+addr+JoinCAPath)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("the agent at %s answered no CA: %w", addr, err)
	}
	return certs, nil
}

func get(ctx context.Context, tc *tls.Config, url string) ([]byte, error) {
	return do(ctx, tc, http.MethodGet, url, nil)
}

func post(ctx context.Context, tc *tls.Config, url string, body []byte) ([]byte, error) {
	return do(ctx, tc, http.MethodPost, url, body)
}

func do(ctx context.Context, tc *tls.Config, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJoinBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb joinErrorBody
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &eb) == nil && eb.Message != "" {
			msg = eb.Message
		}
		return nil, &RefusedError{Peer: req.URL.Host, Code: resp.StatusCode, Message: msg}
	}
	return data, nil
}
