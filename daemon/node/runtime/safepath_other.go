//go:build !linux

package runtime

import (
	"errors"
	"os"
)

var errNeedsLinux = errors.New("safe subPath and seccomp profile resolution need Linux")

func stageSubPath(root, sub string, create bool, target string) error { return errNeedsLinux }

func openBeneath(dir, rel string) (*os.File, error) { return nil, errNeedsLinux }

func unmountAll(dir string) error { return nil }
