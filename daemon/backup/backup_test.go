package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/gossip"
)

const pass = "correct horse battery"

func sensitive(key string) bool {
	return strings.HasPrefix(key, "o/secrets/") || strings.HasPrefix(key, "x/")
}

func obj(kind, apiVersion, ns, name, extra string) []byte {
	return fmt.Appendf(nil, `{"kind":%q,"apiVersion":%q,"metadata":{"name":%q,"namespace":%q,"uid":"0b7cdbb4-4b64-4c1a-9d51-1f2c3a4b5c6d"%s}}`,
		kind, apiVersion, name, ns, extra)
}

// source is a store holding a small cluster's records.
func source(t *testing.T) *gossip.Store {
	t.Helper()
	st, err := gossip.Open("", "h1", nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string][]byte{
		"o/namespaces//default":         obj("Namespace", "v1", "", "default", ""),
		"o/deployments/default/web":     obj("Deployment", "apps/v1", "default", "web", ""),
		"s/deployments/default/web":     []byte(`{"uid":"x","status":{}}`),
		"o/configmaps/default/conf":     obj("ConfigMap", "v1", "default", "conf", ""),
		"o/secrets/default/pw":          []byte(`{"kind":"Secret","data":{"pw":"c2VjcmV0LXZhbHVlLWluLWNsZWFy"}}`),
		"o/pods/default/web-1":          obj("Pod", "v1", "default", "web-1", `,"ownerReferences":[{"controller":true}]`),
		"o/pods/default/bare":           []byte(`{"kind":"Pod","metadata":{"name":"bare","namespace":"default"},"spec":{"nodeName":"h1"}}`),
		"o/pods/default/going":          obj("Pod", "v1", "default", "going", `,"deletionTimestamp":"2026-01-01T00:00:00Z"`),
		"o/nodes//h1":                   obj("Node", "v1", "", "h1", ""),
		"o/events/default/e1":           obj("Event", "v1", "default", "e1", ""),
		"o/tokens//ci":                  obj("Token", "shoal.io/v1", "", "ci", ""),
		"o/services/default/kubernetes": obj("Service", "v1", "default", "kubernetes", ""),
		"x/ca":                          []byte(`{"key":"private"}`),
	}
	_, err = st.Update(context.Background(), func(tx *gossip.Txn) error {
		for k, v := range recs {
			tx.Put(k, v)
		}
		tx.Delete("o/configmaps/default/gone")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func backupOf(t *testing.T, st *gossip.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	h, err := Write(&b, st, Options{Cluster: "sha256:ab", Agent: "h1", Passphrase: pass, Sensitive: sensitive,
		Include: func(k string) bool { return !strings.HasPrefix(k, "x/") }})
	if err != nil {
		t.Fatal(err)
	}
	if h.Records != 12 || h.Counts["deployments"] != 1 || h.Counts["pods"] != 3 || h.Encryption.Sealed != 1 {
		t.Fatalf("header: %d records, counts %v, %d sealed; want 12, 1 deployment, 3 pods, 1 sealed", h.Records, h.Counts, h.Encryption.Sealed)
	}
	return b.Bytes()
}

// A backup reads back as the records written, with the Secret sealed in
// the file and the identity records left out.
func TestBackupRoundTripSealsSecrets(t *testing.T) {
	st := source(t)
	file := backupOf(t, st)
	if bytes.Contains(file, []byte("c2VjcmV0LXZhbHVlLWluLWNsZWFy")) {
		t.Fatal("the Secret's value is in the file in clear")
	}
	if bytes.Contains(file, []byte("private")) {
		t.Fatal("the cluster identity records are in the file")
	}
	h, recs, err := Read(bytes.NewReader(file), pass)
	if err != nil {
		t.Fatal(err)
	}
	if h.Cluster != "sha256:ab" || len(recs) != 12 {
		t.Fatalf("read %d records of %q", len(recs), h.Cluster)
	}
	for _, r := range recs {
		if want := st.Get(r.Key); want == nil || !bytes.Equal(want.Value, r.Value) {
			t.Errorf("%s: read %q", r.Key, r.Value)
		}
	}
}

// A damaged, truncated or foreign file, and a wrong passphrase, are
// refused with a message that says which, before anything is read.
func TestBackupRefusesBadFilesAndPassphrases(t *testing.T) {
	file := backupOf(t, source(t))
	nl := bytes.IndexByte(file, '\n')
	flip := bytes.Clone(file)
	flip[len(flip)-3] ^= 1
	newer := bytes.Replace(bytes.Clone(file), []byte(`"format":1`), []byte(`"format":2`), 1)
	cases := []struct {
		name, pass string
		file       []byte
		want       string
		is         error
	}{
		{"changed byte", pass, flip, "SHA-256 differs", ErrFile},
		{"truncated", pass, file[:len(file)-10], "truncated", ErrFile},
		{"appended", pass, append(bytes.Clone(file), 'x'), "appended", ErrFile},
		{"not a backup", pass, []byte("apiVersion: v1\nkind: Pod\n"), "not a shoal backup header", ErrFile},
		{"newer format", pass, newer, "backup format 2", ErrFile},
		{"wrong passphrase", "incorrect horse battery", file, "does not open this backup", ErrPassphrase},
		{"short passphrase", "short", file, "at least 12", ErrPassphrase},
		{"header only", pass, file[:nl+1], "truncated", ErrFile},
	}
	for _, c := range cases {
		_, _, err := Read(bytes.NewReader(c.file), c.pass)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v saying %q", c.name, err, c.is, c.want)
		}
	}
	if _, err := ReadHeader(bufio.NewReader(bytes.NewReader(file))); err != nil {
		t.Fatalf("the header alone reads without the passphrase: %v", err)
	}
}

// The plan restores objects and leaves out what belongs to the old
// cluster's hosts and history; a bare pod loses its node.
func TestPlanRestoresObjectsNotHostsOrHistory(t *testing.T) {
	_, recs, err := Read(bytes.NewReader(backupOf(t, source(t))), pass)
	if err != nil {
		t.Fatal(err)
	}
	plan, res, err := Plan(recs)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range plan {
		keys = append(keys, r.Key)
		if r.Key == "o/pods/default/bare" && bytes.Contains(r.Value, []byte("nodeName")) {
			t.Errorf("the bare pod keeps its old node: %s", r.Value)
		}
	}
	want := "o/namespaces//default o/configmaps/default/conf o/deployments/default/web o/pods/default/bare o/secrets/default/pw"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("planned %s\nwant    %s", got, want)
	}
	for _, why := range []string{SkipStatus, SkipNodes, SkipEvents, SkipTokens, SkipOwnedPods, SkipDeleting, SkipAPIService} {
		if res.Skipped[why] != 1 {
			t.Errorf("skipped %q: %d, want 1", why, res.Skipped[why])
		}
	}
}

// A restore writes everything or nothing: into a new cluster it writes the
// plan (keeping the new cluster's own bootstrap objects); into one that
// holds an object the backup would overwrite, or with a record that fails
// validation, it writes nothing.
func TestRestoreIsAllOrNothing(t *testing.T) {
	_, recs, err := Read(bytes.NewReader(backupOf(t, source(t))), pass)
	if err != nil {
		t.Fatal(err)
	}
	plan, res, _ := Plan(recs)
	fresh, _ := gossip.Open("", "n1", nil)
	ns := obj("Namespace", "v1", "", "default", `,"labels":{"new":"yes"}`)
	_, _ = fresh.Update(context.Background(), func(tx *gossip.Txn) error { tx.Put("o/namespaces//default", ns); return nil })
	if err := Restore(context.Background(), fresh, plan, res, nil); err != nil {
		t.Fatal(err)
	}
	if res.Restored["deployments"] != 1 || res.Restored["secrets"] != 1 || res.Restored["pods"] != 1 || res.Skipped[SkipBootstrap] != 1 {
		t.Fatalf("restored %v, skipped %v", res.Restored, res.Skipped)
	}
	if got := fresh.Get("o/namespaces//default"); !bytes.Equal(got.Value, ns) {
		t.Error("the new cluster's own default namespace was overwritten")
	}
	if got := fresh.Get("o/secrets/default/pw"); got == nil || !bytes.Contains(got.Value, []byte("c2VjcmV0LXZhbHVlLWluLWNsZWFy")) {
		t.Error("the Secret was not restored with its value")
	}

	// Again into the same (now not new) cluster: refused, nothing written.
	before := fresh.Len()
	_, res2, _ := Plan(recs)
	err = Restore(context.Background(), fresh, plan, res2, nil)
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "deployments/default/web") {
		t.Fatalf("restore into a cluster holding the objects: %v", err)
	}
	if fresh.Len() != before {
		t.Fatal("a refused restore wrote records")
	}

	// A record that fails validation: nothing written.
	empty, _ := gossip.Open("", "n2", nil)
	bad := func(r *gossip.Record) error {
		if strings.Contains(r.Key, "secrets") {
			return gossip.ErrInvalidRecord
		}
		return nil
	}
	if err := Restore(context.Background(), empty, plan, res2, bad); !errors.Is(err, gossip.ErrInvalidRecord) || empty.Len() != 0 {
		t.Fatalf("restore with an invalid record: %v, %d records written", err, empty.Len())
	}
}
