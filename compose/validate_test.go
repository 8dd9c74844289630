package compose

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/registry/admission/ipalloc"
	"github.com/shoal-dev/shoal/registry/admission/podsecurity"
)

// newRegistry is the object store of an agent, in memory: defaulting,
// validation, and the admission steps the agent runs (Service addresses,
// Pod Security at the default level baseline).
func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := registry.New(st)
	_, cidr, _ := net.ParseCIDR("10.96.0.0/16")
	reg.AddAdmission(ipalloc.NewAllocator(cidr).Admit)
	reg.AddAdmission(podsecurity.New(podsecurity.Baseline, nil).Admit)
	return reg
}

// applyAsServer sends the converted YAML through what `shoal apply -f -`
// does on the server: split the documents, decode each (no field may be
// unknown), apply all in one transaction.
func applyAsServer(t *testing.T, reg *registry.Registry, yaml []byte) []api.Object {
	t.Helper()
	docs, err := api.SplitDocumentsLimited(yaml, api.DefaultDecodeLimits)
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	var objs []api.Object
	for i, doc := range docs {
		d, err := api.Decode(doc)
		if err != nil {
			t.Fatalf("document %d: %v\n%s", i+1, err, doc)
		}
		if len(d.UnknownFields) > 0 {
			t.Fatalf("document %d (%s %s): unknown fields %v", i+1, d.Kind.Kind, d.Object.GetObjectMeta().Name, d.UnknownFields)
		}
		objs = append(objs, d.Object)
	}
	if _, err := reg.Apply(context.Background(), objs); err != nil {
		t.Fatalf("the server refuses the converted objects: %v\n%s", err, yaml)
	}
	return objs
}

// convertAndApply converts a project, labelling its namespace privileged
// when it needs it, and applies the result to an in-memory registry.
func convertAndApply(t *testing.T, p *types.Project) (*Result, []api.Object) {
	t.Helper()
	res, err := Convert(p, Options{})
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if len(res.NeedsPrivileged) > 0 {
		if res, err = Convert(p, Options{PodSecurity: "privileged"}); err != nil {
			t.Fatalf("convert: %v", err)
		}
	}
	y, err := WriteYAML(res.Objects)
	if err != nil {
		t.Fatal(err)
	}
	return res, applyAsServer(t, newRegistry(t), y)
}

func findObject[T api.Object](objs []api.Object, name string) T {
	var zero T
	for _, o := range objs {
		if t, ok := o.(T); ok && o.GetObjectMeta().Name == name {
			return t
		}
	}
	return zero
}

func warningsText(res *Result) string {
	var b strings.Builder
	for _, w := range res.Warnings {
		b.WriteString(w.String())
		b.WriteString("\n")
	}
	return b.String()
}
