// Command standin plays the shoal binary in the sandbox image's tests:
// `standin pause` runs sandbox.Pause as the real `shoal pause` does.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/shoal-dev/shoal/daemon/node/sandbox"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] != "pause" {
		fmt.Fprintln(os.Stderr, "usage: standin pause")
		os.Exit(64)
	}
	fmt.Println("ready")
	if err := sandbox.Pause(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
