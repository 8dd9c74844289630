//go:build !linux

package podnet

func setHairpin(string) (int, error) { return 0, ErrUnsupported }
