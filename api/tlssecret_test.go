package api

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testKeyPair makes a self-signed certificate for host and returns the
// PEM certificate and the PEM key in the given encoding.
func testKeyPair(t testing.TB, host, keyType string) (crtPEM, keyPEM []byte) {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch keyType {
	case "rsa", "pkcs1":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	crtPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	switch keyType {
	case "pkcs1":
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv.(*rsa.PrivateKey))})
	case "sec1":
		b, err := x509.MarshalECPrivateKey(priv.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		// As `openssl ecparam -genkey` writes it: the parameters first.
		keyPEM = append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b})...)
	default:
		b, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
	}
	return crtPEM, keyPEM
}

func tlsSecret(crt, key []byte) *Secret {
	s := &Secret{ObjectMeta: ObjectMeta{Name: "web-tls", Namespace: "default"}, Type: SecretTypeTLS,
		Data: map[string][]byte{}}
	if crt != nil {
		s.Data[TLSCertKey] = crt
	}
	if key != nil {
		s.Data[TLSPrivateKeyKey] = key
	}
	Default(s)
	return s
}

// leaks reports an error text holding any line of a secret's data (a
// PEM line, or a run of raw bytes).
func leaks(text string, data ...[]byte) bool {
	for _, d := range data {
		for _, line := range bytes.Split(d, []byte("\n")) {
			if len(line) >= 8 && !bytes.HasPrefix(line, []byte("-----")) && strings.Contains(text, string(line)) {
				return true
			}
		}
	}
	return false
}

func TestTLSSecretValidation(t *testing.T) {
	for _, kt := range []string{"ecdsa", "rsa", "pkcs1", "sec1", "ed25519"} {
		crt, key := testKeyPair(t, "a.example.test", kt)
		if err := Validate(tlsSecret(crt, key)); err != nil {
			t.Errorf("%s key pair refused: %v", kt, err)
		}
		// A chain: the certificate, then an intermediate.
		other, _ := testKeyPair(t, "ca.example.test", "ecdsa")
		if err := Validate(tlsSecret(append(bytes.Clone(crt), other...), key)); err != nil {
			t.Errorf("%s with a chain refused: %v", kt, err)
		}
	}
	crt, key := testKeyPair(t, "a.example.test", "ecdsa")
	otherCrt, otherKey := testKeyPair(t, "b.example.test", "ecdsa")
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: bytes.Repeat([]byte{7}, 64)})
	garbage := []byte("this-is-not-pem-but-a-secret-value-0123456789")
	for _, c := range []struct {
		name     string
		crt, key []byte
		field    string
	}{
		{"no certificate", nil, key, "data[tls.crt]"},
		{"no key", crt, nil, "data[tls.key]"},
		{"empty certificate", []byte{}, key, "data[tls.crt]"},
		{"certificate not PEM", garbage, key, "data[tls.crt]"},
		{"certificate is a key", key, key, "data[tls.crt]"},
		{"certificate DER broken", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: garbage}), key, "data[tls.crt]"},
		{"intermediate broken", append(bytes.Clone(crt), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: garbage})...), key, "data[tls.crt]"},
		{"key not PEM", crt, garbage, "data[tls.key]"},
		{"key DER broken", crt, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: garbage}), "data[tls.key]"},
		{"key of another certificate", crt, otherKey, "data[tls.key]"},
		{"key encrypted", crt, encrypted, "data[tls.key]"},
		{"certificate and key swapped", otherKey, otherCrt, "data[tls.crt]"},
	} {
		err := Validate(tlsSecret(c.crt, c.key))
		if f := fieldsOf(err); len(f) != 1 || f[0] != c.field {
			t.Errorf("%s: %v, want one error naming %s", c.name, err, c.field)
			continue
		}
		if leaks(err.Error(), c.crt, c.key, crt, key, otherKey, garbage) {
			t.Errorf("%s: the error quotes the secret: %v", c.name, err)
		}
	}
	// Other types are not read.
	opaque := tlsSecret(nil, garbage)
	opaque.Type = "Opaque"
	if err := Validate(opaque); err != nil {
		t.Errorf("an Opaque secret: %v", err)
	}
}

func TestIngressTLSValidation(t *testing.T) {
	ing := func(tls ...IngressTLS) *Ingress {
		in := &Ingress{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: IngressSpec{TLS: tls,
			DefaultBackend: &IngressBackend{Service: &IngressServiceBackend{Name: "web", Port: ServiceBackendPort{Number: 80}}}}}
		Default(in)
		return in
	}
	if err := Validate(ing(IngressTLS{Hosts: []string{"a.example.test", "*.example.test"}, SecretName: "web-tls"}, IngressTLS{})); err != nil {
		t.Errorf("valid tls refused: %v", err)
	}
	for _, c := range []struct {
		tls   IngressTLS
		field string
	}{
		{IngressTLS{Hosts: []string{"A_B.example"}, SecretName: "x"}, "spec.tls[0].hosts[0]"},
		{IngressTLS{Hosts: []string{"a.*.example"}}, "spec.tls[0].hosts[0]"},
		{IngressTLS{SecretName: "Web_TLS"}, "spec.tls[0].secretName"},
	} {
		err := Validate(ing(c.tls))
		if f := fieldsOf(err); len(f) != 1 || f[0] != c.field {
			t.Errorf("%+v: %v, want %s", c.tls, err, c.field)
		}
	}
}

// FuzzTLSKeyPair reads any bytes as a kubernetes.io/tls Secret's data: no
// panic, and every error names one of the two keys with one of the fixed
// reasons, so no error can carry a byte of the secret.
func FuzzTLSKeyPair(f *testing.F) {
	crt, key := testKeyPair(f, "a.example.test", "ecdsa")
	rsaCrt, rsaKey := testKeyPair(f, "a.example.test", "pkcs1")
	f.Add(crt, key)
	f.Add(rsaCrt, rsaKey)
	f.Add(crt, rsaKey)
	f.Add(key, crt)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PARAMETERS-----\n-----END EC PARAMETERS-----\n"))
	f.Add([]byte{}, []byte{0})
	reasons := map[string]bool{}
	for _, r := range []string{tlsNoCert, tlsNoKey, tlsNotCertBlock, tlsNoCertPEM, tlsBadLeaf, tlsBadChain,
		tlsNoKeyPEM, tlsEncryptedKey, tlsBadKey, tlsKeyMismatch} {
		reasons[r] = true
	}
	f.Fuzz(func(t *testing.T, crt, key []byte) {
		c, err := TLSKeyPair(map[string][]byte{TLSCertKey: crt, TLSPrivateKeyKey: key})
		if err == nil {
			if c.Leaf == nil || c.PrivateKey == nil || len(c.Certificate) == 0 {
				t.Fatalf("accepted without a certificate and key: %+v", c)
			}
			return
		}
		fe, ok := err.(*FieldError)
		if !ok || (fe.Field != "data[tls.crt]" && fe.Field != "data[tls.key]") || fe.Value != nil || !reasons[fe.Detail] {
			t.Fatalf("error %#v", err)
		}
	})
}
