//go:build windows

package cli

import (
	"context"

	"github.com/shoal-dev/shoal/api"
)

// watchResize sends the terminal's size once; Windows has no SIGWINCH.
func watchResize(ctx context.Context, fd int) <-chan api.TerminalSize {
	ch := make(chan api.TerminalSize, 1)
	if size, ok := terminalSize(fd); ok {
		ch <- size
	}
	return ch
}
