package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ImageExists reports whether ref is present in the engine.
func (d *Docker) ImageExists(ctx context.Context, ref string) (bool, error) {
	start := time.Now()
	_, err := d.cli.ImageInspect(ctx, ref)
	d.observe("image_inspect", start, err)
	if err == nil {
		return true, nil
	}
	mapped := mapErr(err, ErrImageNotFound)
	if errors.Is(mapped, ErrImageNotFound) {
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, mapped)
}

// InspectImage returns the image's id, configured user and command.
func (d *Docker) InspectImage(ctx context.Context, ref string) (ImageInfo, error) {
	start := time.Now()
	img, err := d.cli.ImageInspect(ctx, ref)
	d.observe("image_inspect", start, err)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("inspect image %s: %w", ref, mapErr(err, ErrImageNotFound))
	}
	info := ImageInfo{ID: img.ID}
	if img.Config != nil {
		info.User = img.Config.User
		info.Entrypoint = img.Config.Entrypoint
		info.Cmd = img.Config.Cmd
	}
	return info, nil
}

// PullImage pulls ref and waits for the pull to finish. An image the
// registry does not know is ErrImageNotFound.
func (d *Docker) PullImage(ctx context.Context, ref string) error {
	start := time.Now()
	progress, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		d.observe("image_pull", start, err)
		return fmt.Errorf("pull image %s: %w", ref, mapErr(err, ErrImageNotFound))
	}
	defer progress.Close()
	err = drainProgress(progress)
	d.observe("image_pull", start, err)
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

// ImportImage creates ref from a root filesystem tar, applying the
// Dockerfile-style changes (ENTRYPOINT, CMD, ENV, LABEL, ...).
func (d *Docker) ImportImage(ctx context.Context, rootfsTar io.Reader, ref string, changes []string) error {
	source := image.ImportSource{Source: rootfsTar, SourceName: "-"}
	progress, err := d.cli.ImageImport(ctx, source, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		return fmt.Errorf("import image %s: %w", ref, mapErr(err, ErrNotFound))
	}
	defer progress.Close()
	if err := drainProgress(progress); err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	return nil
}

// RemoveImage untags ref and deletes its layers if nothing else uses them.
// It is not part of Engine: the agent uses it to drop images it made itself.
func (d *Docker) RemoveImage(ctx context.Context, ref string) error {
	if _, err := d.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, mapErr(err, ErrImageNotFound))
	}
	return nil
}

// progressMessage is the part of the engine's JSON progress stream that
// reports failure: the HTTP status is 200 and the error comes in the body.
type progressMessage struct {
	Error       string `json:"error"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// drainProgress reads a pull or import progress stream to its end and
// returns the first error it reports.
func drainProgress(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg progressMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading progress: %w", err)
		}
		switch {
		case msg.ErrorDetail != nil && msg.ErrorDetail.Message != "":
			return errors.New(msg.ErrorDetail.Message)
		case msg.Error != "":
			return errors.New(msg.Error)
		}
	}
}

var _ ImageMover = (*Docker)(nil)

// ListImages lists the engine's images (intermediate ones left out).
func (d *Docker) ListImages(ctx context.Context) ([]ImageSummary, error) {
	list, err := d.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", mapErr(err, ErrNotFound))
	}
	out := make([]ImageSummary, 0, len(list))
	for _, img := range list {
		out = append(out, ImageSummary{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size})
	}
	return out, nil
}

// SaveImage streams the engine's export of refs (docker save).
func (d *Docker) SaveImage(ctx context.Context, refs ...string) (io.ReadCloser, error) {
	rc, err := d.cli.ImageSave(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("save image %v: %w", refs, mapErr(err, ErrImageNotFound))
	}
	return rc, nil
}

// LoadImage loads a docker save tar and waits for the engine's answer,
// which reports failures in its body.
func (d *Docker) LoadImage(ctx context.Context, tar io.Reader) error {
	resp, err := d.cli.ImageLoad(ctx, tar, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load image: %w", mapErr(err, ErrNotFound))
	}
	defer resp.Body.Close()
	if err := drainProgress(resp.Body); err != nil {
		return fmt.Errorf("load image: %w", err)
	}
	return nil
}
