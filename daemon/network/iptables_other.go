//go:build !linux

package network

import "context"

func runIptables(context.Context, string, string, ...string) (string, error) {
	return "", ErrUnsupported
}
