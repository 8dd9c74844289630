package compose

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func deployment(service, image string) *api.Deployment {
	return &api.Deployment{ObjectMeta: api.ObjectMeta{Name: service, Namespace: "shop",
		Labels: map[string]string{LabelProject: "shop", LabelService: service}},
		Spec: api.DeploymentSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: service, Image: image}}}}}}
}

func TestRevisionRoundTripsThroughItsSecret(t *testing.T) {
	objs := []api.Object{&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "shop", Labels: map[string]string{LabelProject: "shop"}}},
		deployment("web", "img:1"), &api.Secret{ObjectMeta: api.ObjectMeta{Name: "pw", Namespace: "shop"}, Data: map[string][]byte{"pw": []byte("s3cret")}}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := NewRevision(7, "shop", at, "Upgrade complete", objs, []byte("name: shop\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Secret("shop")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "shop.v7" || s.Type != SecretTypeRevision || s.Labels[LabelRevision] != "7" || s.Labels[LabelProject] != "" {
		t.Fatalf("secret %+v", s.ObjectMeta)
	}
	if bytes.Contains(s.Data[revisionDataKey], []byte("s3cret")) {
		t.Fatal("the record is not compressed")
	}
	back, err := RevisionFromSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if !SameObjects(objs, got) || back.Model != "name: shop\n" || !back.Updated.Equal(at) || back.Status != RevisionDeployed {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestRevisionSecretsThatAreDamagedAreRefused(t *testing.T) {
	r, _ := NewRevision(1, "shop", time.Now(), "x", []api.Object{deployment("web", "img")}, nil)
	good, _ := r.Secret("shop")
	bomb := func() []byte { // 65 MiB of zeros: small compressed, refused expanded
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		zero := make([]byte, 1<<20)
		for range 65 {
			w.Write(zero)
		}
		w.Close()
		return b.Bytes()
	}()
	cases := map[string]func(s *api.Secret){
		"wrong type":       func(s *api.Secret) { s.Type = "Opaque" },
		"not gzip":         func(s *api.Secret) { s.Data[revisionDataKey] = []byte("{}") },
		"label mismatch":   func(s *api.Secret) { s.Labels[LabelRevision] = "2" },
		"expands too much": func(s *api.Secret) { s.Data[revisionDataKey] = bomb },
	}
	for name, damage := range cases {
		s := *good
		s.Labels = map[string]string{LabelRevision: "1"}
		s.Data = map[string][]byte{revisionDataKey: good.Data[revisionDataKey]}
		damage(&s)
		if _, err := RevisionFromSecret(&s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRevisionTooLargeIsRefusedWithItsSize(t *testing.T) {
	noise := make([]byte, MaxRevisionBytes+1024) // random: does not compress
	rand.Read(noise)
	big := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "blob", Namespace: "shop"}, Data: map[string][]byte{"b": noise}}
	r, _ := NewRevision(1, "shop", time.Now(), "x", []api.Object{big}, nil)
	if _, err := r.Secret("shop"); err == nil || !strings.Contains(err.Error(), "a revision may take at most") {
		t.Fatalf("a revision over the bound: %v", err)
	}
}

func TestServicesChangedAndMerge(t *testing.T) {
	v1 := []api.Object{deployment("db", "db:1"), deployment("web", "web:1"), deployment("cache", "c:1")}
	v2 := []api.Object{deployment("db", "db:1"), deployment("web", "web:2"), deployment("worker", "w:1")}
	if got := strings.Join(ServicesChanged(v1, v2), ","); got != "web,+worker,-cache" {
		t.Errorf("changed: %s", got)
	}
	if got := ServicesChanged(v1, v1); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
	// An up of web alone keeps the others as the revision had them.
	m := MergeRevision(v1, []api.Object{deployment("web", "web:2")}, func(api.Object) bool { return true })
	if got := strings.Join(ServicesChanged(v1, m), ","); got != "web" || len(m) != 3 {
		t.Errorf("merge of a partial up: %s (%d objects)", got, len(m))
	}
	// A full up removes what it does not name.
	m = MergeRevision(v1, v2, func(api.Object) bool { return false })
	if !SameObjects(m, v2) {
		t.Errorf("merge of a full up is not its objects")
	}
}

func TestSortRevisionsSetsTheStatusHistoryShows(t *testing.T) {
	rs := []*Revision{{Number: 3, Status: RevisionDeployed}, {Number: 1, Status: RevisionDeployed}, {Number: 2, Status: RevisionFailed}}
	SortRevisions(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.Status)
	}
	if strings.Join(got, ",") != "superseded,failed,deployed" || rs[0].Number != 1 {
		t.Errorf("statuses %v", got)
	}
	if _, err := FindRevision(rs, 9); err == nil || !strings.Contains(err.Error(), "keeps revisions 1, 2, 3") {
		t.Errorf("find 9: %v", err)
	}
}
