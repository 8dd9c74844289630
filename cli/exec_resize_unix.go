//go:build !windows

package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-dev/shoal/api"
)

// watchResize sends the terminal's size now and after every SIGWINCH, until
// ctx is done.
func watchResize(ctx context.Context, fd int) <-chan api.TerminalSize {
	ch := make(chan api.TerminalSize, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(sig)
		for {
			if size, ok := terminalSize(fd); ok {
				select {
				case ch <- size:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-sig:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}
