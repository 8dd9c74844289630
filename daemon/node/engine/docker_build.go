package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"
)

// BuildSpec is what ImageBuilder builds: the options of a classic
// Dockerfile build whose context is a tar stream.
type BuildSpec struct {
	Tags       []string
	Dockerfile string // path inside the context
	Target     string
	BuildArgs  map[string]*string
	Labels     map[string]string
	NoCache    bool
	Pull       bool
}

// ImageBuilder is the optional ability to build images from a Dockerfile;
// the agent's build endpoint asks for it by type assertion.
type ImageBuilder interface {
	// BuildImage builds an image from the tar stream of its context,
	// giving each line of the build's output to progress, and returns the
	// image's id. A failed step is an error carrying the engine's message.
	BuildImage(ctx context.Context, context io.Reader, spec BuildSpec, progress func(line string)) (imageID string, err error)
	// InspectImage describes a local image; ErrImageNotFound if absent.
	InspectImage(ctx context.Context, ref string) (ImageInfo, error)
}

var _ ImageBuilder = (*Docker)(nil)

// BuildImage builds with the engine's classic builder, which needs no
// session with the client (BuildKit's API does) and builds offline from
// local base images.
func (d *Docker) BuildImage(ctx context.Context, buildContext io.Reader, spec BuildSpec, progress func(line string)) (string, error) {
	resp, err := d.cli.ImageBuild(ctx, buildContext, build.ImageBuildOptions{
		Tags: spec.Tags, Dockerfile: spec.Dockerfile, Target: spec.Target, BuildArgs: spec.BuildArgs,
		Labels: spec.Labels, NoCache: spec.NoCache, PullParent: spec.Pull,
		// Intermediate containers go, whether the build succeeds or not.
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("build image %v: %w", spec.Tags, mapErr(err, ErrNotFound))
	}
	defer resp.Body.Close()
	id, err := readBuildOutput(resp.Body, progress)
	if err != nil {
		return "", fmt.Errorf("build image %v: %w", spec.Tags, err)
	}
	return id, nil
}

// buildMessage is the part of the engine's build output the agent reads.
type buildMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// readBuildOutput reads the engine's JSON build stream to its end: the
// output lines go to progress, the image id comes in an aux message, a
// failure in an error message (the HTTP status is 200 either way).
func readBuildOutput(r io.Reader, progress func(string)) (string, error) {
	dec := json.NewDecoder(r)
	var id string
	for {
		var msg buildMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("reading build output: %w", err)
		}
		switch {
		case msg.ErrorDetail != nil && msg.ErrorDetail.Message != "":
			return "", errors.New(msg.ErrorDetail.Message)
		case msg.Error != "":
			return "", errors.New(msg.Error)
		case len(msg.Aux) > 0:
			var aux struct{ ID string }
			if json.Unmarshal(msg.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		case msg.Stream != "" && progress != nil:
			progress(msg.Stream)
		case msg.Status != "" && progress != nil:
			progress(msg.Status + "\n")
		}
	}
	if id == "" {
		return "", errors.New("the engine's build output names no image")
	}
	return id, nil
}
