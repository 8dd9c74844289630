//go:build !linux && !darwin

package cli

import "golang.org/x/term"

// noEcho does nothing here: term.ReadPassword turns echo off for the read
// itself.
func noEcho(int) (func(), error) { return func() {}, nil }

// readLine reads one line without echo.
func readLine(fd int) ([]byte, error) { return term.ReadPassword(fd) }
