package gossip

import (
	"bytes"
	"log"
	"log/slog"
	"sync"
	"time"
)

// memberlistWriter routes memberlist's log lines ("[WARN] memberlist: ...")
// to slog at debug level: membership churn is routine, and what matters to
// an operator is logged by the cluster itself.
type memberlistWriter struct{ log *slog.Logger }

func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(memberlistWriter{log: l.With("component", "memberlist")}, "", 0)
}

func (w memberlistWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := ""
	if len(line) > 0 && line[0] == '[' {
		if i := bytes.IndexByte(line, ']'); i > 0 {
			level = string(line[1:i])
			line = bytes.TrimSpace(line[i+1:])
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	w.log.Debug(string(line), "level_memberlist", level)
	return len(p), nil
}

// logLimiter lets a repeated message through once per interval per key, and
// counts what it held back, so that a failure repeating every second
// leaves one line in the log, not thousands.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	held  map[string]int
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: map[string]time.Time{}, held: map[string]int{}}
}

// allow reports whether to log now, and how many were held back since.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.held[key]++
		return false, 0
	}
	l.last[key] = now
	n := l.held[key]
	delete(l.held, key)
	return true, n
}

// reset forgets key, so that its next occurrence is logged at once.
func (l *logLimiter) reset(key string) {
	l.mu.Lock()
	delete(l.last, key)
	delete(l.held, key)
	l.mu.Unlock()
}
