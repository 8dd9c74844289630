//go:build !linux

package network

func setHairpin(string) (int, error) { return 0, ErrUnsupported }
