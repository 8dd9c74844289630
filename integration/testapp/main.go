package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// version is set at build time with -ldflags "-X main.version=v1".
var version = "dev"

// stdout and stderr are variables so tests can capture output.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

const usage = `usage: testapp [COMMAND] [ARGS...]   (no command: serve)

  serve [--port 8080] [--ready-file PATH] [--start-unready]
                           HTTP server (port also from $PORT)
  get URL [--count N] [--timeout 2s]
                           GET and print the body; with --count, tally bodies
  load URL [--duration 5s] [--concurrency 8] [--timeout 2s] [--new-connections]
                           HTTP load; prints one JSON line of results
  lookup NAME [--type A|AAAA|SRV|PTR|CNAME|TXT] [--timeout 5s]
                           DNS lookup through /etc/resolv.conf
  tcp-echo [--port 9000] [--hostname]
  udp-echo [--port 9000] [--hostname]
                           echo servers (--hostname: send the hostname first)
  send tcp|udp HOST:PORT TEXT... [--timeout 2s]
                           send TEXT and a newline, print the reply
  exit CODE [--after DURATION]
  crash [--after DURATION] print a line, then exit 1
  sleep DURATION|infinity [--ignore-sigterm]
  cat PATH...  env  echo ARGS...  write PATH TEXT...  hostname  version
`

// commands maps sub-command names to their implementations. It is filled
// in init because help refers back to it.
var commands map[string]func(args []string) error

func init() {
	commands = map[string]func(args []string) error{
		"serve":    runServe,
		"get":      runGet,
		"load":     runLoad,
		"lookup":   runLookup,
		"tcp-echo": runTCPEcho,
		"udp-echo": runUDPEcho,
		"send":     runSend,
		"exit":     runExit,
		"crash":    runCrash,
		"sleep":    runSleep,
		"cat":      runCat,
		"env":      runEnv,
		"echo":     runEcho,
		"write":    runWrite,
		"hostname": runHostname,
		"version":  runVersion,
		"help":     runHelp,
	}
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches to a sub-command and turns its error into an exit status.
func run(args []string) int {
	name, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, rest = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "testapp: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(rest)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(stderr, "testapp %s: %v\n", name, err)
		return 1
	}
}

func runHelp([]string) error {
	fmt.Fprint(stdout, usage)
	return nil
}

// exitCode asks run to end the process with a status and print nothing
// more, as for "exit 3" or after a usage message was already printed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// newFlagSet returns a flag set whose usage line shows the sub-command's
// synopsis.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: testapp %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags placed before, between or after positional
// arguments ("get URL --count 10") and returns the positional ones. An
// argument "--" ends flag parsing.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitCode(0)
			}
			return nil, exitCode(2) // flag already printed the problem
		}
		consumed := len(args) - fs.NArg()
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseExact parses args and checks the number of positional arguments.
func parseExact(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != n {
		return nil, usageError(fs, "want %d argument(s), got %d", n, len(pos))
	}
	return pos, nil
}

// usageError prints a problem and the sub-command's usage, and returns the
// status for a usage error.
func usageError(fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(stderr, "testapp %s: %s\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.Usage()
	return exitCode(2)
}

// parseDuration accepts Go durations ("1m30s") and, like sleep(1), a bare
// number of seconds ("5", "0.5").
func parseDuration(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: %w", s, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// defaultPort returns $PORT when it holds a valid port, else fallback.
func defaultPort(fallback int) int {
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil && p > 0 && p < 65536 {
		return p
	}
	return fallback
}

// hostname returns the host name, or "unknown" when the kernel will not say.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
