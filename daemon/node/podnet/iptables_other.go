//go:build !linux

package podnet

import "context"

func runIptables(context.Context, string, string, ...string) (string, error) {
	return "", ErrUnsupported
}
