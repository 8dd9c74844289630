package identity

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzJoinRequest sends any body to the join endpoint: it answers with a
// status (a refusal for anything but a valid request) and never panics.
func FuzzJoinRequest(f *testing.F) {
	fd, err := Found("h1", nil, 0, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	auth := &authority{f: fd, taken: map[string]string{}}
	mux := http.NewServeMux()
	h := NewJoinHandler(auth, 0, slog.New(slog.DiscardHandler))
	h.limit.SetLimit(1e9)
	h.limit.SetBurst(1e9)
	h.Register(mux)
	good, _ := json.Marshal(JoinRequest{Secret: fd.Join.Secret, Name: "h2", CSR: []byte("-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n"), IPs: []string{"10.0.0.2"}})
	f.Add(good)
	f.Add([]byte(`{"secret":"","name":"","csr":""}`))
	f.Add([]byte(`{"secret":"` + fd.Join.Secret + `","name":"../../x","csr":"AAAA"}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, JoinPath, bytes.NewReader(body)))
		if rec.Code == http.StatusOK {
			// Only a request with the secret and a valid CSR is admitted.
			var req JoinRequest
			if strictJSON(body, &req) != nil || !fd.Join.Check(req.Secret) {
				t.Fatalf("admitted without the secret: %q", body)
			}
		}
	})
}

// FuzzParseJoinToken: any string parses or is refused, never panics, and
// what parses prints back the same.
func FuzzParseJoinToken(f *testing.F) {
	fd, err := Found("h1", nil, 0, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	p, _ := fd.CA.Parse()
	f.Add(JoinTokenFor(p.CA.Cert, fd.Join.Secret).String())
	f.Add("SHOAL-1--")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err == nil && tok.String() != strings.TrimSpace(s) {
			t.Fatalf("%q parsed as %q", s, tok.String())
		}
	})
}

// FuzzValidateRecord: cluster records from other agents are checked
// without panicking, whatever their bytes.
func FuzzValidateRecord(f *testing.F) {
	fd, err := Found("h1", nil, 0, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for k, v := range map[string]any{RecordCA: fd.CA, RecordJoin: fd.Join, RecordKeyring: fd.Keyring} {
		b, _ := json.Marshal(v)
		f.Add(k, b)
	}
	f.Add("x/ca", []byte(`{"generation":1,"cert":"","key":"","trusted":""}`))
	if rotated, err := rotatedState(fd); err == nil {
		b, _ := json.Marshal(rotated)
		f.Add(RecordCA, b)
	}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		_ = ValidateRecord(key, value, false)
	})
}

// rotatedState is the CA state in the middle of a rotation.
func rotatedState(fd *Founding) (*CAState, error) {
	p, err := fd.CA.Parse()
	if err != nil {
		return nil, err
	}
	next, err := NewCA(time.Now())
	if err != nil {
		return nil, err
	}
	cross, err := p.CA.CrossSign(next, time.Now())
	if err != nil {
		return nil, err
	}
	st, err := NewCAState(next)
	if err != nil {
		return nil, err
	}
	st.Generation, st.CrossSigned, st.Trusted = 2, EncodeCerts(cross), EncodeCerts(next.Cert, p.CA.Cert)
	return st, nil
}
