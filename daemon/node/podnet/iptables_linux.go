package podnet

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// runIptables runs an iptables command, in the network namespace at netns
// (through nsenter) when one is given.
func runIptables(ctx context.Context, netns, stdin string, args ...string) (string, error) {
	if netns != "" {
		args = append([]string{"nsenter", "--net=" + netns, "--"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
