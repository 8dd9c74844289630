package identity

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"time"
)

// Founding is everything the first agent of a cluster creates.
type Founding struct {
	Node    *Node
	CA      *CAState
	Join    *JoinState
	Keyring *Keyring
}

// Found creates a cluster's identity: its CA, the founding agent's node
// certificate, a join secret and the gossip key.
func Found(name string, ips []net.IP, validity time.Duration, now time.Time) (*Founding, error) {
	ca, err := NewCA(now)
	if err != nil {
		return nil, err
	}
	st, err := NewCAState(ca)
	if err != nil {
		return nil, err
	}
	node, err := IssueSelf(ca, nil, name, ips, validity, now)
	if err != nil {
		return nil, err
	}
	node.Trust = []*x509.Certificate{ca.Cert}
	js, err := NewJoinSecret(now)
	if err != nil {
		return nil, err
	}
	key, err := NewGossipKey()
	if err != nil {
		return nil, err
	}
	return &Founding{Node: node, CA: st, Join: js, Keyring: &Keyring{Keys: []string{key}, Primary: key}}, nil
}

// IssueSelf issues this agent a new certificate from the CA it holds (a
// renewal, or after a CA rotation), with a new key; cross is the current
// CA's cross-signed certificate, if any, sent along in the chain.
func IssueSelf(ca *CA, cross *x509.Certificate, name string, ips []net.IP, validity time.Duration, now time.Time) (*Node, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	leaf, err := ca.IssueNode(NodeRequest{Name: name, IPs: ips, PublicKey: &key.PublicKey, Validity: validity}, now)
	if err != nil {
		return nil, fmt.Errorf("issue node certificate: %w", err)
	}
	chain := []*x509.Certificate{leaf}
	if cross != nil {
		chain = append(chain, cross)
	}
	return &Node{Name: name, Key: key, Chain: chain}, nil
}

// NewGossipKey makes a gossip encryption key (base64).
func NewGossipKey() (string, error) {
	b := make([]byte, GossipKeySize)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// JoinTokenFor is the join token of the cluster whose founding CA is ca.
func JoinTokenFor(ca *x509.Certificate, secret string) JoinToken {
	return JoinToken{CAFingerprint: Fingerprint(ca), Secret: secret}
}
