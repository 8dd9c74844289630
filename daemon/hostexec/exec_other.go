//go:build !linux

package hostexec

import "errors"

func execOnHost(root, name string, args []string) error {
	return errors.New("host tools run only on Linux")
}
