package api

import "testing"

func TestBearerTokens(t *testing.T) {
	tok, hash, err := NewBearerToken("alice")
	if err != nil {
		t.Fatal(err)
	}
	name, secret, err := ParseBearerToken(tok)
	if err != nil || name != "alice" {
		t.Fatalf("%q %v", name, err)
	}
	if HashBearerSecret(secret) != hash || !ValidBearerHash(hash) {
		t.Fatal("hash")
	}
	for _, bad := range []string{"", "alice", "alice.", ".x", "alice.short", tok + "A"} {
		if _, _, err := ParseBearerToken(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}
