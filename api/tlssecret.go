package api

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
)

// A Secret of type kubernetes.io/tls holds a PEM certificate chain under
// tls.crt and its PEM private key under tls.key, as in Kubernetes.
const (
	SecretTypeTLS    = "kubernetes.io/tls"
	TLSCertKey       = "tls.crt"
	TLSPrivateKeyKey = "tls.key"
)

// The reasons TLSKeyPair gives: fixed text, so no error can quote a secret.
const (
	tlsNoCert       = "a kubernetes.io/tls Secret needs the PEM certificate (chain) under tls.crt"
	tlsNoKey        = "a kubernetes.io/tls Secret needs the PEM private key under tls.key"
	tlsNotCertBlock = "holds a PEM block that is not a CERTIFICATE; give the certificate first, then its intermediates, and the key under tls.key"
	tlsNoCertPEM    = "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
	tlsBadLeaf      = "the first certificate does not parse as X.509 DER"
	tlsBadChain     = "an intermediate certificate does not parse as X.509 DER"
	tlsNoKeyPEM     = "holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)"
	tlsEncryptedKey = "is encrypted; give the key without a passphrase"
	tlsBadKey       = "does not parse as an unencrypted private key (PKCS#8, PKCS#1 RSA or SEC 1 EC)"
	tlsKeyMismatch  = "is not the private key of the certificate in tls.crt"
)

// TLSKeyPair reads the certificate and key of a kubernetes.io/tls Secret's
// data. Its error is a *FieldError naming data[tls.crt] or data[tls.key]
// with a fixed reason: never a byte of the data, nor the text of a parser
// error, which could quote it.
func TLSKeyPair(data map[string][]byte) (tls.Certificate, error) {
	crt, key := data[TLSCertKey], data[TLSPrivateKeyKey]
	crtField, keyField := path("data").key(TLSCertKey), path("data").key(TLSPrivateKeyKey)
	fail := func(f path, typ, detail string) (tls.Certificate, error) {
		return tls.Certificate{}, &FieldError{Field: string(f), Type: typ, Detail: detail}
	}
	if len(crt) == 0 {
		return fail(crtField, ErrTypeRequired, tlsNoCert)
	}
	if len(key) == 0 {
		return fail(keyField, ErrTypeRequired, tlsNoKey)
	}
	var out tls.Certificate
	for rest := crt; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fail(crtField, ErrTypeInvalid, tlsNotCertBlock)
		}
		out.Certificate = append(out.Certificate, b.Bytes)
	}
	if len(out.Certificate) == 0 {
		return fail(crtField, ErrTypeInvalid, tlsNoCertPEM)
	}
	leaf, err := x509.ParseCertificate(out.Certificate[0])
	if err != nil {
		return fail(crtField, ErrTypeInvalid, tlsBadLeaf)
	}
	for _, c := range out.Certificate[1:] {
		if _, err := x509.ParseCertificate(c); err != nil {
			return fail(crtField, ErrTypeInvalid, tlsBadChain)
		}
	}
	out.Leaf = leaf

	// The first private key block; others (openssl's EC PARAMETERS) are
	// skipped, as tls.X509KeyPair skips them.
	var b *pem.Block
	for rest := key; ; {
		b, rest = pem.Decode(rest)
		if b == nil || strings.HasSuffix(b.Type, "PRIVATE KEY") {
			break
		}
	}
	if b == nil {
		return fail(keyField, ErrTypeInvalid, tlsNoKeyPEM)
	}
	if strings.Contains(b.Type, "ENCRYPTED") || b.Headers["Proc-Type"] != "" {
		return fail(keyField, ErrTypeInvalid, tlsEncryptedKey)
	}
	priv, ok := parsePrivateKey(b)
	if !ok {
		return fail(keyField, ErrTypeInvalid, tlsBadKey)
	}
	if !publicKeyMatches(leaf.PublicKey, priv) {
		return fail(keyField, ErrTypeInvalid, tlsKeyMismatch)
	}
	out.PrivateKey = priv
	return out, nil
}

func parsePrivateKey(b *pem.Block) (crypto.Signer, bool) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, false
	}
	if err != nil {
		return nil, false
	}
	s, ok := k.(crypto.Signer)
	return s, ok
}

// publicKeyMatches reports that priv is the key of pub, as tls.X509KeyPair
// checks it.
func publicKeyMatches(pub any, priv crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return false
	}
	e, ok := pub.(equaler)
	return ok && e.Equal(priv.Public())
}
