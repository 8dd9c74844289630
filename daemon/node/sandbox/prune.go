package sandbox

import (
	"context"
	"log/slog"
	"strings"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// imageRemover is what RemoveOldImages needs of the engine; engines that
// cannot list or remove images keep every image.
type imageRemover interface {
	ListImages(ctx context.Context) ([]engine.ImageSummary, error)
	RemoveImage(ctx context.Context, ref string) error
}

// RemoveOldImages removes the sandbox images other than keep: those of
// earlier builds, made from their binaries (44 MB each, one per build the
// host ran). An image still used by a container, a sandbox an earlier
// agent made and this one adopted, is refused by the engine and kept until
// a later start finds it unused. It returns the refs it removed.
func RemoveOldImages(ctx context.Context, eng engine.Engine, keep string, log *slog.Logger) []string {
	rm, ok := eng.(imageRemover)
	if !ok {
		return nil
	}
	images, err := rm.ListImages(ctx)
	if err != nil {
		log.Warn("listing the engine's images to remove old sandbox images failed; tried again at the next start", "err", err)
		return nil
	}
	var removed []string
	for _, img := range images {
		for _, tag := range img.RepoTags {
			if !strings.HasPrefix(tag, ImageRepository+":") || tag == keep {
				continue
			}
			if err := rm.RemoveImage(ctx, tag); err != nil {
				log.Info("old sandbox image kept", "image", tag, "reason", err)
				continue
			}
			removed = append(removed, tag)
		}
	}
	if len(removed) > 0 {
		log.Info("removed old sandbox images", "images", removed)
	}
	return removed
}
