package fieldmanager_test

import (
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/fieldmanager"
)

// BenchmarkUpdate is the cost every API write of a Deployment now pays to
// keep its managedFields.
func BenchmarkUpdate(b *testing.B) {
	m := fieldmanager.New(api.Kinds)
	live, err := m.Apply(api.KindDeployment, fieldmanager.Main, nil, deploy(2, "nginx:1"), "alice", false)
	if err != nil {
		b.Fatal(err)
	}
	next := deploy(3, "nginx:2")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Update(api.KindDeployment, fieldmanager.Main, live, next, "bob"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply is the cost of one server-side apply of a Deployment.
func BenchmarkApply(b *testing.B) {
	m := fieldmanager.New(api.Kinds)
	live, err := m.Apply(api.KindDeployment, fieldmanager.Main, nil, deploy(2, "nginx:1"), "alice", false)
	if err != nil {
		b.Fatal(err)
	}
	next := deploy(2, "nginx:2")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Apply(api.KindDeployment, fieldmanager.Main, live, next, "alice", false); err != nil {
			b.Fatal(err)
		}
	}
}
