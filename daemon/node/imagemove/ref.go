package imagemove

import (
	"errors"
	"fmt"

	"github.com/distribution/reference"

	"github.com/shoal-dev/shoal/api"
)

// ErrNotMovable: the reference names an image by a registry digest, which
// a save and load do not keep, so a copy from a peer would not answer to
// it; such images come from their registry.
var ErrNotMovable = errors.New("imagemove: an image named by registry digest is pulled from its registry")

// wanted is an image a pod asks for, in the engine's own spelling.
type wanted struct {
	// name is the tagged name as the engine lists it ("busybox:latest",
	// "localhost:5000/app:1"), or "" when the image is asked for by ID.
	name string
	// id is set when the image is asked for by ID.
	id string
}

func (w wanted) String() string {
	if w.name != "" {
		return w.name
	}
	return w.id
}

// parseRef reads a pod's image reference.
func parseRef(ref string) (wanted, error) {
	if api.IsImageID(ref) {
		return wanted{id: ref}, nil
	}
	if len(ref) > 512 {
		return wanted{}, fmt.Errorf("image reference of %d characters: at most 512", len(ref))
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return wanted{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return wanted{}, ErrNotMovable
	}
	return wanted{name: reference.FamiliarString(reference.TagNameOnly(named))}, nil
}

// matches reports whether a node's image entry is the wanted image.
func (w wanted) matches(img api.ContainerImage) bool {
	return img.Has(w.String())
}
