package patch

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/shoal-dev/shoal/api"
)

// TestPatchTagsMatchKubernetes walks every kind shoal shares with
// Kubernetes beside its k8s.io/api type, field by JSON name, and requires
// the same patchStrategy and patchMergeKey tags: a strategic merge patch
// kubectl computed against Kubernetes' types must merge the same lists
// here. Fields only one side has are not compared.
func TestPatchTagsMatchKubernetes(t *testing.T) {
	compared := 0
	for _, k := range api.Kinds {
		kobj, err := scheme.Scheme.New(schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind})
		if err != nil {
			continue // a kind of shoal's own (Token, ...)
		}
		w := tagWalker{t: t, seen: map[[2]reflect.Type]bool{}}
		w.compare(k.Kind, reflect.TypeOf(k.New()), reflect.TypeOf(kobj))
		compared += w.fields
	}
	if compared < 200 {
		t.Fatalf("compared only %d fields; the walk lost its way", compared)
	}
	t.Logf("compared %d fields", compared)
}

type tagWalker struct {
	t      *testing.T
	seen   map[[2]reflect.Type]bool
	fields int
}

func (w *tagWalker) compare(path string, ours, theirs reflect.Type) {
	ours, theirs = elem(ours), elem(theirs)
	if ours.Kind() != reflect.Struct || theirs.Kind() != reflect.Struct {
		return
	}
	key := [2]reflect.Type{ours, theirs}
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	of, tf := jsonFields(ours), jsonFields(theirs)
	for name, o := range of {
		f, ok := tf[name]
		if !ok {
			continue
		}
		w.fields++
		for _, tag := range []string{"patchStrategy", "patchMergeKey"} {
			if got, want := o.Tag.Get(tag), f.Tag.Get(tag); got != want {
				w.t.Errorf("%s.%s: %s tag is %q, Kubernetes has %q", path, name, tag, got, want)
			}
		}
		w.compare(path+"."+name, o.Type, f.Type)
	}
}

// elem strips pointers, slices and maps down to the element type.
func elem(t reflect.Type) reflect.Type {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return t
		}
	}
}
