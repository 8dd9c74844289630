package controller

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestSafeEncodeStringMatchesKubernetes(t *testing.T) {
	// rand.SafeEncodeString maps each byte b to alphabet[b % 27].
	if got := safeEncodeString("0123456789"); got != "456789bcdf" {
		t.Fatalf("got %q", got)
	}
}

func TestComputeHash(t *testing.T) {
	tmpl := podTemplate("web", "img:v1")
	api.DefaultPodSpec(&tmpl.Spec)
	h1, err := computeHash(&tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	// FNV-32a of the JSON, as a decimal, in the safe alphabet.
	b, _ := json.Marshal(tmpl)
	f := fnv.New32a()
	f.Write(b)
	if want := safeEncodeString(fmt.Sprint(f.Sum32())); h1 != want {
		t.Fatalf("hash %q, want %q", h1, want)
	}
	for _, c := range h1 {
		if !strings.ContainsRune(safeChars, c) {
			t.Fatalf("hash %q has %q outside the safe alphabet", h1, c)
		}
	}
	again, _ := computeHash(&tmpl, nil)
	if again != h1 {
		t.Fatal("the hash is not stable")
	}
	zero, _ := computeHash(&tmpl, api.Int32(0))
	one, _ := computeHash(&tmpl, api.Int32(1))
	if zero == h1 || one == zero {
		t.Fatalf("collisionCount does not move the hash: %s %s %s", h1, zero, one)
	}
	f = fnv.New32a()
	f.Write(b)
	buf := make([]byte, 8)
	binary.LittleEndian.PutUint32(buf, 1)
	f.Write(buf)
	if want := safeEncodeString(fmt.Sprint(f.Sum32())); one != want {
		t.Fatalf("hash with collisionCount 1 = %q, want %q", one, want)
	}
	tmpl.Spec.Containers[0].Image = "img:v2"
	if other, _ := computeHash(&tmpl, nil); other == h1 {
		t.Fatal("a changed template keeps its hash")
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := podTemplate("web", "img:v1")
	b := podTemplate("web", "img:v1")
	b.Labels[api.LabelPodTemplateHash] = "abc"
	if !equalIgnoreHash(&a, &b) {
		t.Fatal("templates differing only in the hash label must match")
	}
	if a.Labels[api.LabelPodTemplateHash] != "" || b.Labels[api.LabelPodTemplateHash] != "abc" {
		t.Fatal("equalIgnoreHash changed its arguments")
	}
	b.Labels["tier"] = "x"
	if equalIgnoreHash(&a, &b) {
		t.Fatal("another label differs")
	}
	c := podTemplate("web", "img:v2")
	if equalIgnoreHash(&a, &c) {
		t.Fatal("the image differs")
	}
}

func TestResolveFenceposts(t *testing.T) {
	pct := func(s string) *api.IntOrString { v := api.FromString(s); return &v }
	abs := func(n int32) *api.IntOrString { v := api.FromInt(n); return &v }
	cases := []struct {
		surge, unavail      *api.IntOrString
		desired             int32
		wantSurge, wantUnav int32
	}{
		{pct("25%"), pct("25%"), 10, 3, 2}, // surge rounds up, unavailable down
		{pct("25%"), pct("25%"), 4, 1, 1},
		{pct("25%"), pct("25%"), 1, 1, 0},
		{pct("0%"), pct("10%"), 5, 0, 1}, // both 0: unavailable becomes 1
		{abs(2), abs(0), 5, 2, 0},
		{abs(0), abs(3), 5, 0, 3},
		{nil, nil, 3, 0, 1},
	}
	for _, tc := range cases {
		s, u, err := resolveFenceposts(tc.surge, tc.unavail, tc.desired)
		if err != nil || s != tc.wantSurge || u != tc.wantUnav {
			t.Errorf("resolveFenceposts(%v, %v, %d) = %d, %d, %v; want %d, %d", tc.surge, tc.unavail, tc.desired, s, u, err, tc.wantSurge, tc.wantUnav)
		}
	}
}

func TestMaxUnavailableNeverExceedsReplicas(t *testing.T) {
	d := newDeployment("web", 2)
	api.Default(d)
	v := api.FromInt(5)
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = &v
	if got := maxUnavailable(d); got != 2 {
		t.Fatalf("maxUnavailable = %d, want 2", got)
	}
	d.Spec.Replicas = api.Int32(0)
	if got := maxUnavailable(d); got != 0 {
		t.Fatalf("maxUnavailable of 0 replicas = %d", got)
	}
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateStrategy}
	if maxSurge(d) != 0 || maxUnavailable(d) != 0 {
		t.Fatal("Recreate has no surge nor unavailability budget")
	}
}

func TestNewReplicaSetAnnotations(t *testing.T) {
	d := newDeployment("web", 4)
	api.Default(d)
	d.Annotations = map[string]string{api.AnnotationChangeCause: "set image", api.AnnotationRevision: "9", annotationLastApplied: "{}"}
	rs := &api.ReplicaSet{}
	if !setNewReplicaSetAnnotations(d, rs, 3, false) {
		t.Fatal("nothing changed on a new ReplicaSet")
	}
	want := map[string]string{api.AnnotationChangeCause: "set image", api.AnnotationRevision: "3",
		api.AnnotationDesiredReplicas: "4", api.AnnotationMaxReplicas: "5"}
	if !jsonEqual(rs.Annotations, want) {
		t.Fatalf("annotations %v, want %v", rs.Annotations, want)
	}
	// Reused for a rollback: the revision moves up, the old one is kept.
	if !setNewReplicaSetAnnotations(d, rs, 5, true) || rs.Annotations[api.AnnotationRevision] != "5" ||
		rs.Annotations[AnnotationRevisionHistory] != "3" {
		t.Fatalf("after reuse: %v", rs.Annotations)
	}
	if setNewReplicaSetAnnotations(d, rs, 4, true) || rs.Annotations[api.AnnotationRevision] != "5" {
		t.Fatal("a lower revision must not replace a higher one")
	}
}

func TestGetProportion(t *testing.T) {
	d := newDeployment("web", 15)
	api.Default(d) // surge 25% of 15 rounds up to 4
	rs := &api.ReplicaSet{Spec: api.ReplicaSetSpec{Replicas: api.Int32(6)},
		ObjectMeta: api.ObjectMeta{Annotations: map[string]string{api.AnnotationMaxReplicas: "13"}}}
	// 6 of 13 scaled to 19: round(6*19/13) = 9, so +3, within what is left.
	if got := getProportion(rs, d, 6, 0); got != 3 {
		t.Fatalf("proportion = %d, want 3", got)
	}
	if got := getProportion(rs, d, 6, 5); got != 1 {
		t.Fatalf("proportion with 5 already added = %d, want the 1 left", got)
	}
	d.Spec.Replicas = api.Int32(0)
	if got := getProportion(rs, d, -6, 0); got != -6 {
		t.Fatalf("scaling to zero: %d", got)
	}
}
