package server

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// Connection-level bounds of the API's HTTP server.
const (
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers (slow-header attacks).
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a keep-alive connection that sends nothing.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers; a bearer token or client
	// certificate header is a few KiB.
	MaxHeaderBytes = 64 << 10
)

// NewHTTPServer wraps h, normally a *Server, in an http.Server with the
// API's connection timeouts. It sets no server-wide ReadTimeout or
// WriteTimeout: watches, followed logs and exec stream for as long as they
// live. The Server bounds each request instead: its body must arrive within
// Limits.BodyTimeout, a plain answer must be written within
// Limits.WriteTimeout, and every write of a stream must make progress within
// Limits.StreamWriteTimeout.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// streamWriter is the ResponseWriter of a long-lived answer (a watch, a log
// stream, a forwarded stream): every write is flushed, and must make
// progress within timeout, so that a client that stops reading is cut off
// instead of holding the stream and its memory.
type streamWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func newStreamWriter(w http.ResponseWriter, timeout time.Duration) *streamWriter {
	return &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}
}

func (s *streamWriter) extend() {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.extend()
	n, err := s.ResponseWriter.Write(p)
	if err != nil {
		return n, err
	}
	if err := s.rc.Flush(); err != nil {
		return n, err
	}
	return n, nil
}

func (s *streamWriter) WriteHeader(code int) {
	s.extend()
	s.ResponseWriter.WriteHeader(code)
}

// FlushError is what http.ResponseController calls to flush.
func (s *streamWriter) FlushError() error {
	s.extend()
	return s.rc.Flush()
}

func (s *streamWriter) Flush() { _ = s.FlushError() }

// Unwrap lets http.ResponseController reach the connection.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack hands over the connection (a forwarded websocket) with the same
// rule: each write must make progress within the timeout. Reads have no
// deadline: an interactive exec may be quiet for a long time.
func (s *streamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := s.rc.Hijack()
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	_ = c.SetWriteDeadline(time.Now().Add(s.timeout))
	return &deadlineConn{Conn: c, timeout: s.timeout}, brw, nil
}

// deadlineConn gives every write a fresh deadline.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}
