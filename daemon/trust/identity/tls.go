package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// Live holds the node identity in use; TLS configurations made from it
// follow renewals and CA rotations without restarting anything.
type Live struct {
	cur atomic.Pointer[liveState]
}

type liveState struct {
	node *Node
	cert tls.Certificate
	pool *x509.CertPool
}

// NewLive starts from an identity.
func NewLive(n *Node) *Live {
	l := &Live{}
	l.Set(n)
	return l
}

// Set replaces the identity in use.
func (l *Live) Set(n *Node) {
	l.cur.Store(&liveState{node: n, cert: n.TLSCertificate(), pool: n.Pool()})
}

// Node returns the identity in use.
func (l *Live) Node() *Node { return l.cur.Load().node }

// Pool returns the trusted roots in use.
func (l *Live) Pool() *x509.CertPool { return l.cur.Load().pool }

func (l *Live) certificate() *tls.Certificate {
	c := l.cur.Load().cert
	return &c
}

// InternalServerConfig is the TLS configuration of the agent-to-agent
// endpoints: the node certificate, and client certificates of this
// cluster's CA verified when given (the join endpoint is reached without
// one; every other internal endpoint requires a node certificate).
func (l *Live) InternalServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := l.cur.Load()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{st.cert},
				ClientAuth:   tls.VerifyClientCertIfGiven,
				ClientCAs:    st.pool,
				NextProtos:   []string{"http/1.1"},
			}, nil
		},
	}
}

// APIServerConfig is the TLS configuration of the public API: the node
// certificate (or the operator's own, when given), and client
// certificates of this cluster's CA accepted as credentials.
func (l *Live) APIServerConfig(own *tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := l.cur.Load()
			cert := st.cert
			if own != nil {
				cert = *own
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{cert},
				ClientAuth:   tls.VerifyClientCertIfGiven,
				ClientCAs:    st.pool,
				NextProtos:   []string{"h2", "http/1.1"},
			}, nil
		},
	}
}

// ClientConfig is the TLS configuration to call the agent named peer: it
// presents this node's certificate and accepts only a certificate of this
// cluster's CA issued to that node, whatever address was dialled.
func (l *Live) ClientConfig(peer string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return l.certificate(), nil
		},
		// The standard verification runs in VerifyConnection, against the
		// trust roots of the moment.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPeer(cs, l.Pool(), peer)
		},
		NextProtos: []string{"http/1.1"},
	}
}

// ErrWrongPeer is returned when a peer's certificate is valid but names
// another node than the one called.
var ErrWrongPeer = errors.New("the peer's certificate is for another node")

func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, peer string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the peer sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			return fmt.Errorf("the peer's certificate is not signed by this cluster's CA (an agent of another cluster?): %w", err)
		}
		return fmt.Errorf("the peer's certificate is not valid: %w", err)
	}
	if got := NodeName(leaf); peer != "" && got != peer {
		return fmt.Errorf("%w: called %q, answered %q", ErrWrongPeer, peer, got)
	}
	return nil
}

// PeerNode returns the node name of a verified client certificate, or "".
func PeerNode(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 {
		return ""
	}
	return NodeName(cs.VerifiedChains[0][0])
}
