package cli

import (
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ANSI colours of the few outputs that use them (diff).
const (
	colorRed   = "\x1b[31m"
	colorGreen = "\x1b[32m"
	colorCyan  = "\x1b[36m"
	colorReset = "\x1b[0m"
)

// colorOn reports whether w may be coloured: only a terminal, and never
// when NO_COLOR is set (https://no-color.org) or the terminal is dumb.
func colorOn(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colorDiff colours a unified diff's removed, added and hunk lines.
func colorDiff(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		body := strings.TrimSuffix(line, "\n")
		color := ""
		switch {
		case strings.HasPrefix(body, "---"), strings.HasPrefix(body, "+++"), strings.HasPrefix(body, "diff "):
		case strings.HasPrefix(body, "-"):
			color = colorRed
		case strings.HasPrefix(body, "+"):
			color = colorGreen
		case strings.HasPrefix(body, "@@"):
			color = colorCyan
		}
		if color == "" || body == "" {
			b.WriteString(line)
			continue
		}
		b.WriteString(color + body + colorReset + line[len(body):])
	}
	return b.String()
}
