//go:build !unix

package sandbox

import (
	"context"
	"errors"
)

// Pause needs Unix signals and process reaping; sandboxes run on Linux.
func Pause(ctx context.Context) error {
	return errors.New("sandbox: pause runs only on Unix systems")
}
