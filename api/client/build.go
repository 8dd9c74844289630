package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/shoal-dev/shoal/api"
)

// Build sends a build context (an uncompressed tar stream) to the agent,
// which builds it with its host's engine; each line of the build's output
// goes to progress. It returns the built image's id. A build that fails is
// an error carrying the engine's message.
func (c *Client) Build(ctx context.Context, opts api.BuildOptions, buildContext io.Reader, progress func(line string)) (id string, existing bool, err error) {
	resp, err := c.send(ctx, request{method: "POST", path: api.BuildPath, query: opts.Query(),
		bodyReader: buildContext, contentType: "application/x-tar"})
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg api.BuildMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return "", false, errors.New("build: the agent ended the answer without an image or an error")
			}
			return "", false, fmt.Errorf("build: reading the answer: %w", err)
		}
		switch {
		case msg.Error != "":
			return "", false, errors.New(msg.Error)
		case msg.ImageID != "":
			return msg.ImageID, msg.Existing, nil
		case progress != nil:
			progress(msg.Stream)
		}
	}
}
