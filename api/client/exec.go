package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/shoal-dev/shoal/api"
)

// Exec status reasons and causes, as in Kubernetes.
const (
	ReasonNonZeroExitCode = "NonZeroExitCode"
	CauseExitCode         = "ExitCode"
)

// Exec runs a command in a pod's container over a websocket with the
// Kubernetes channel protocol (v4.channel.k8s.io). stdin is read only when
// opts.Stdin is set; its end is sent to the command as a stdin close. Each
// size on resize is sent to the command's terminal. Exec returns when the
// command ends: the exit code is the command's, and err is nil, whatever the
// code. err is set only when the command could not run or the stream broke,
// and then the exit code means nothing.
//
// A stdin whose Read blocks keeps one goroutine alive until that Read
// returns; os.Stdin in a CLI that exits afterwards is fine.
func (c *Client) Exec(ctx context.Context, ns, pod string, opts api.ExecOptions, stdin io.Reader,
	stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
	if err := needName(api.KindPod, pod); err != nil {
		return -1, err
	}
	if len(opts.Command) == 0 {
		return -1, errors.New("exec: a command is required")
	}
	conn, err := c.dialExec(ctx, ns, pod, opts)
	if err != nil {
		return -1, err
	}
	s := &execSession{conn: conn, stdout: orDiscard(stdout), stderr: orDiscard(stderr)}
	return s.run(ctx, opts, stdin, resize)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (c *Client) dialExec(ctx context.Context, ns, pod string, opts api.ExecOptions) (*websocket.Conn, error) {
	u := *c.base
	u.Scheme = "ws"
	if c.base.Scheme == "https" {
		u.Scheme = "wss"
	}
	u.Path = c.base.Path + api.KindPod.ObjectPath(ns, pod) + "/exec"
	u.RawQuery = execQuery(opts).Encode()
	d := &websocket.Dialer{
		Subprotocols:     []string{api.ExecProtocol},
		HandshakeTimeout: 30 * time.Second,
		Proxy:            http.ProxyFromEnvironment,
	}
	if c.unixPath != "" {
		d.Proxy = nil
		d.NetDialContext = c.dialUnix
	}
	if t, ok := c.http.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		d.TLSClientConfig = t.TLSClientConfig.Clone()
		// The transport adds h2 to the ALPN list once it has been used; a
		// websocket upgrade runs on HTTP/1.1 only.
		d.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	h := http.Header{}
	c.setHeaders(h)
	conn, resp, err := d.DialContext(ctx, u.String(), h)
	if resp != nil {
		c.warn(resp.Header)
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			defer resp.Body.Close()
			return nil, statusFromResponse(resp)
		}
		return nil, c.transportError(ctx, request{method: "GET", path: u.Path}, err)
	}
	if p := conn.Subprotocol(); p != "" && p != api.ExecProtocol {
		conn.Close()
		return nil, fmt.Errorf("exec: the server chose the protocol %q, expected %q", p, api.ExecProtocol)
	}
	return conn, nil
}

func execQuery(o api.ExecOptions) url.Values {
	q := url.Values{"command": o.Command}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	for name, on := range map[string]bool{"stdin": o.Stdin, "stdout": o.Stdout, "stderr": o.Stderr, "tty": o.TTY} {
		if on {
			q.Set(name, "true")
		}
	}
	return q
}

// execSession is one running exec: the reader runs in the caller's goroutine,
// stdin and resize are pumped by their own.
type execSession struct {
	conn           *websocket.Conn
	wmu            sync.Mutex // a websocket has at most one writer at a time
	stdout, stderr io.Writer
}

func (s *execSession) run(ctx context.Context, opts api.ExecOptions, stdin io.Reader, resize <-chan api.TerminalSize) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		s.conn.Close()
		wg.Wait()
	}()
	// Closing the connection is what unblocks the reader when ctx ends.
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	if opts.Stdin && stdin != nil {
		go s.pumpStdin(ctx, stdin)
	}
	if resize != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pumpResize(ctx, resize)
		}()
	}
	st, err := s.read(ctx)
	if err != nil {
		return -1, err
	}
	s.closeNormally()
	return exitCode(st)
}

func (s *execSession) write(channel byte, data []byte) error {
	msg := make([]byte, 0, len(data)+1)
	msg = append(msg, channel)
	msg = append(msg, data...)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return s.conn.WriteMessage(websocket.BinaryMessage, msg)
}

func (s *execSession) closeNormally() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

func (s *execSession) pumpStdin(ctx context.Context, in io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := in.Read(buf)
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			if s.write(api.StreamStdin, buf[:n]) != nil {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			_ = s.write(api.StreamClose, []byte{api.StreamStdin})
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *execSession) pumpResize(ctx context.Context, resize <-chan api.TerminalSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case size, ok := <-resize:
			if !ok {
				return
			}
			b, err := json.Marshal(size)
			if err != nil {
				continue
			}
			if s.write(api.StreamResize, b) != nil {
				return
			}
		}
	}
}

// read copies stdout and stderr until the status message arrives or the
// stream ends. A normal close without a status counts as success.
func (s *execSession) read(ctx context.Context) (*api.Status, error) {
	for {
		typ, data, err := s.conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("exec: %w", ctx.Err())
			}
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return &api.Status{Status: "Success"}, nil
			}
			return nil, fmt.Errorf("exec: the stream ended before the command's exit status: %w", err)
		}
		if typ != websocket.BinaryMessage || len(data) == 0 {
			continue
		}
		st, err := s.dispatch(data[0], data[1:])
		if err != nil || st != nil {
			return st, err
		}
	}
}

func (s *execSession) dispatch(channel byte, data []byte) (*api.Status, error) {
	switch channel {
	case api.StreamStdout:
		if _, err := s.stdout.Write(data); err != nil {
			return nil, fmt.Errorf("exec: writing stdout: %w", err)
		}
	case api.StreamStderr:
		if _, err := s.stderr.Write(data); err != nil {
			return nil, fmt.Errorf("exec: writing stderr: %w", err)
		}
	case api.StreamError:
		var st api.Status
		if err := json.Unmarshal(data, &st); err != nil {
			// Older servers send plain text on the error channel.
			st = api.Status{Status: "Failure", Reason: api.ReasonInternalError, Message: string(data)}
		}
		return &st, nil
	}
	return nil, nil
}

// exitCode reads the final Status: Success is 0, NonZeroExitCode carries the
// code in its ExitCode cause, anything else is an error.
func exitCode(st *api.Status) (int, error) {
	if st.Status == "Success" {
		return 0, nil
	}
	if st.Reason == ReasonNonZeroExitCode && st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Type != CauseExitCode {
				continue
			}
			code, err := strconv.Atoi(c.Message)
			if err != nil {
				return -1, fmt.Errorf("exec: the exit code %q is not a number", c.Message)
			}
			return code, nil
		}
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	if st.Reason == "" {
		st.Reason = api.ReasonInternalError
	}
	return -1, &api.StatusError{ErrStatus: *st}
}
