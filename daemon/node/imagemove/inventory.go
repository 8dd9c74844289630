package imagemove

import (
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Inventory turns the engine's image list into a Node's status.images:
// names are the repo digests, the image ID and the tags (placeholders such
// as <none>:<none> left out), the largest images first, at most max.
// The order is stable, so that an unchanged engine gives an equal list and
// nothing is written.
func Inventory(list []engine.ImageSummary, max int) []api.ContainerImage {
	out := make([]api.ContainerImage, 0, min(len(list), max))
	for _, img := range list {
		if !api.IsImageID(img.ID) {
			continue
		}
		digests := keep(img.RepoDigests)
		tags := keep(img.RepoTags)
		names := make([]string, 0, len(digests)+1+len(tags))
		names = append(names, digests...)
		names = append(names, img.ID)
		names = append(names, tags...)
		out = append(out, api.ContainerImage{Names: names, SizeBytes: max0(img.Size)})
	}
	slices.SortFunc(out, func(a, b api.ContainerImage) int {
		if a.SizeBytes != b.SizeBytes {
			if a.SizeBytes > b.SizeBytes {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ImageID(), b.ImageID())
	})
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// keep returns the real names of a list, sorted.
func keep(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "" || strings.HasPrefix(n, "<none>") {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func max0(n int64) int64 {
	if n < 0 {
		return 0
	}
	return n
}
