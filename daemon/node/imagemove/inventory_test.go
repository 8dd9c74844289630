package imagemove

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

func id(n int) string { return fmt.Sprintf("sha256:%064x", n) }

func TestInventoryListsTheLargestImagesWithDigestsIDAndTags(t *testing.T) {
	list := []engine.ImageSummary{
		{ID: id(1), RepoTags: []string{"small:1"}, Size: 10},
		{ID: id(2), RepoTags: []string{"big:2", "big:latest"}, RepoDigests: []string{"big@sha256:" + fmt.Sprintf("%064x", 9)}, Size: 300},
		{ID: id(3), RepoTags: []string{"<none>:<none>"}, RepoDigests: []string{"<none>@<none>"}, Size: 200},
		{ID: "not-an-id", Size: 999},
	}
	got := Inventory(list, 2)
	want := []api.ContainerImage{
		{Names: []string{"big@sha256:" + fmt.Sprintf("%064x", 9), id(2), "big:2", "big:latest"}, SizeBytes: 300},
		{Names: []string{id(3)}, SizeBytes: 200},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Inventory =\n%+v\nwant\n%+v", got, want)
	}
	// The same images in another order give the same list.
	rev := []engine.ImageSummary{list[3], list[2], list[1], list[0]}
	rev[2].RepoTags = []string{"big:latest", "big:2"}
	if again := Inventory(rev, 2); !reflect.DeepEqual(again, want) {
		t.Errorf("order changed the list: %+v", again)
	}
}

func TestInventoryCapsAtTheNodeLimit(t *testing.T) {
	var list []engine.ImageSummary
	for i := range 80 {
		list = append(list, engine.ImageSummary{ID: id(i), Size: int64(i)})
	}
	got := Inventory(list, api.MaxNodeImages)
	if len(got) != api.MaxNodeImages || got[0].SizeBytes != 79 || got[49].SizeBytes != 30 {
		t.Errorf("got %d images from size %d to %d; want the 50 largest", len(got), got[0].SizeBytes, got[len(got)-1].SizeBytes)
	}
}

// memStatus is a node's status.images in memory, counting writes.
type memStatus struct {
	images []api.ContainerImage
	writes int
	fail   error
}

func (m *memStatus) Current(context.Context) ([]api.ContainerImage, error) { return m.images, nil }
func (m *memStatus) Write(_ context.Context, images []api.ContainerImage) error {
	if m.fail != nil {
		return m.fail
	}
	m.images = images
	m.writes++
	return nil
}

func TestReporterWritesOnlyWhenTheImagesChange(t *testing.T) {
	eng := newFakeEngine()
	st := &memStatus{}
	r := NewReporter(eng, st, 0, slog.New(slog.DiscardHandler))
	ctx := ctxT(t)
	eng.hold(t, newTestImage(t, "a"), "app:1")
	for range 3 {
		if err := r.ReportOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st.writes != 1 || len(st.images) != 1 || !st.images[0].Has("app:1") {
		t.Fatalf("%d writes, images %+v; want one write listing app:1", st.writes, st.images)
	}
	eng.hold(t, newTestImage(t, "b"), "app:2")
	if err := r.ReportOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st.writes != 2 || len(st.images) != 2 {
		t.Fatalf("%d writes, %d images; want a second write listing both", st.writes, len(st.images))
	}
	st.fail = errors.New("store down")
	eng.hold(t, newTestImage(t, "c"), "app:3")
	if err := r.ReportOnce(ctx); err == nil {
		t.Fatal("a failed write was not reported")
	}
}

func TestHasMatchesTheEnginesSpelling(t *testing.T) {
	img := api.ContainerImage{Names: []string{id(1), "busybox:latest", "localhost:5000/app:1"}}
	for ref, want := range map[string]bool{
		"busybox": true, "busybox:latest": true, "docker.io/library/busybox": true, "library/busybox:latest": true,
		"busybox:1": false, "localhost:5000/app:1": true, "localhost:5000/app": false, id(1): true, id(2): false,
	} {
		if got := img.Has(ref); got != want {
			t.Errorf("Has(%q) = %v, want %v", ref, got, want)
		}
	}
}
