package sandbox

import (
	"context"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ensureTinyImage imports the image of the tiny pause made of program
// unless the engine has it: EnsureImage with a given program, whatever the
// machine.
func ensureTinyImage(ctx context.Context, eng engine.Engine, program []byte) (string, error) {
	src, err := tinySource(program)
	if err != nil {
		return "", err
	}
	return ensure(ctx, eng, src)
}

// ensureBinaryImage imports the image of the binary at exePath unless the
// engine has it: EnsureImage's fallback, whatever the machine.
func ensureBinaryImage(ctx context.Context, eng engine.Engine, exePath string) (string, error) {
	src, err := binarySource(exePath)
	if err != nil {
		return "", err
	}
	return ensure(ctx, eng, src)
}
