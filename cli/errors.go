package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

// exitError ends the CLI with a status and no message of its own, as exec
// does with the command's exit code.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// codedError is an error printed as usual that ends the CLI with its own
// status, such as diff's 2 (1 means "different" there).
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// errUsage is a mistake on the command line.
type errUsage struct {
	msg, cmdPath string
}

func (e *errUsage) Error() string { return e.msg }

func usageError(cmd *cobra.Command, format string, args ...any) error {
	return &errUsage{msg: fmt.Sprintf(format, args...), cmdPath: cmd.CommandPath()}
}

// errorList holds the errors of a command that went on after the first, such
// as `get pod a b` with both missing; each is printed on its own line.
type errorList []error

func (l errorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// orNil returns nil for an empty list, the error for a list of one.
func (l errorList) orNil() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}

// reportError prints err the way kubectl does and returns the exit status.
func reportError(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ce *codedError
	if errors.As(err, &ce) {
		reportError(w, ce.err)
		return ce.code
	}
	var list errorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, errorLine(e))
		}
		return 1
	}
	fmt.Fprintln(w, errorLine(err))
	var ue *errUsage
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "See '%s -h' for help and examples\n", ue.cmdPath)
	}
	return 1
}

// errorLine is `Error from server (NotFound): pods "x" not found` for an API
// error and `error: ...` for anything else.
func errorLine(err error) string {
	var se *api.StatusError
	if errors.As(err, &se) {
		msg := oneLine(se.Error())
		if se.ErrStatus.Reason == "" {
			return "Error from server: " + msg
		}
		return fmt.Sprintf("Error from server (%s): %s", se.ErrStatus.Reason, msg)
	}
	return "error: " + oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
