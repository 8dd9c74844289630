//go:build linux || darwin

package cli

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// noEcho turns the terminal's echo off, keeping line editing and ^C, and
// returns what puts it back. It runs before the prompt, in the caller's
// goroutine, so that putting echo back on an interrupt cannot be undone by
// a read that had not yet started.
func noEcho(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil {
		return nil, fmt.Errorf("reading the terminal's settings: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, setTermios, &quiet); err != nil {
		return nil, fmt.Errorf("turning the terminal's echo off: %w", err)
	}
	return func() { _ = unix.IoctlSetTermios(fd, setTermios, old) }, nil
}

// readLine reads one line from fd, without its end; the terminal's settings
// are left alone (noEcho set them).
func readLine(fd int) ([]byte, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if len(line) == 0 {
				return nil, errors.New("end of input before a passphrase")
			}
			return line, nil
		}
		switch b[0] {
		case '\n':
			return line, nil
		case '\r':
		default:
			line = append(line, b[0])
		}
	}
}
