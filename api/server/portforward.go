package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"

	"github.com/shoal-dev/shoal/api"
)

// Port-forward stream headers and types, as kubectl sends them: each
// forwarded connection is a pair of SPDY streams with the same request id,
// one for the data and one for an error message.
const (
	pfHeaderStreamType = "streamType"
	pfHeaderPort       = "port"
	pfHeaderRequestID  = "requestID"
	pfStreamData       = "data"
	pfStreamError      = "error"
)

// Bounds of one port-forward session.
const (
	// pfIdleTimeout closes a session with no stream open and no traffic
	// (as the kubelet's default streaming idle timeout).
	pfIdleTimeout = 4 * time.Hour
	// pfPingPeriod keeps idle sessions alive through proxies.
	pfPingPeriod = 10 * time.Second
	// pfPairTimeout is how long the second stream of a pair may take.
	pfPairTimeout = 30 * time.Second
	// pfMaxPairs bounds the connections forwarded at once in one session.
	pfMaxPairs = 128
	// pfDialTimeout bounds connecting to the pod.
	pfDialTimeout = 10 * time.Second
)

var tunnelUpgrader = websocket.Upgrader{
	Subprotocols:     []string{api.PortForwardTunnelProtocol},
	CheckOrigin:      func(r *http.Request) bool { return checkOrigin(r) == nil },
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   32 << 10,
	WriteBufferSize:  32 << 10,
}

// podPortForward forwards connections to ports of a pod (kubectl
// port-forward). kubectl 1.31 and later tunnel SPDY through a websocket
// (sub-protocol SPDY/3.1+portforward.k8s.io); older ones, and newer ones
// whose websocket failed, upgrade the connection to SPDY itself.
func (s *Server) podPortForward(w http.ResponseWriter, r *http.Request) {
	if err := checkOrigin(r); err != nil {
		writeError(w, err)
		return
	}
	release, ok := s.openStream(w, r)
	if !ok {
		return
	}
	defer release()
	if s.forward(w, r) {
		return
	}
	v := mux.Vars(r)
	pf, ok := s.cfg.PodIO.(PodPortForwarder)
	if s.cfg.PodIO == nil || !ok {
		writeError(w, api.NewUnavailable("this agent does not forward ports"))
		return
	}
	h := &pfSession{dial: func(ctx context.Context, port uint16) (net.Conn, error) {
		return pf.DialPod(ctx, v["namespace"], v["name"], port)
	}, pod: v["name"], streams: make(chan httpstream.Stream, 1), done: make(chan struct{}),
		pairs: map[string]*pfPair{}, log: s.log}

	var conn httpstream.Connection
	switch {
	case websocket.IsWebSocketUpgrade(r):
		if !offers(r.Header.Values("Sec-WebSocket-Protocol"), api.PortForwardTunnelProtocol) {
			writeError(w, api.NewBadRequest("port-forward over a websocket needs the sub-protocol "+api.PortForwardTunnelProtocol))
			return
		}
		ws, err := tunnelUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader has answered
		}
		tunnel := &wsNetConn{conn: ws, writeTimeout: s.cfg.Limits.StreamWriteTimeout}
		limited := &spdyFrameLimit{Conn: tunnel, r: tunnel, max: s.cfg.Limits.MaxWebsocketMessage}
		conn, err = spdy.NewServerConnectionWithPings(limited, h.accept, pfPingPeriod)
		if err != nil {
			ws.Close()
			s.log.Debug("port-forward: SPDY over websocket failed", "pod", v["name"], "err", err)
			return
		}
	case strings.EqualFold(r.Header.Get(httpstream.HeaderUpgrade), spdy.HeaderSpdy31):
		if !offers(r.Header.Values(httpstream.HeaderProtocolVersion), api.PortForwardProtocol) {
			writeError(w, api.NewBadRequest(fmt.Sprintf("port-forward needs the header %s: %s", httpstream.HeaderProtocolVersion, api.PortForwardProtocol)))
			return
		}
		if _, err := httpstream.Handshake(r, w, []string{api.PortForwardProtocol}); err != nil {
			return // Handshake has answered
		}
		conn = spdy.NewResponseUpgraderWithPings(pfPingPeriod).UpgradeResponse(spdyHijacker{w, s.cfg.Limits.MaxWebsocketMessage}, r, h.accept)
		if conn == nil {
			return // the upgrader has answered
		}
	default:
		writeError(w, api.NewBadRequest("port-forward needs a websocket upgrade with sub-protocol "+
			api.PortForwardTunnelProtocol+", or an upgrade to "+spdy.HeaderSpdy31))
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(pfIdleTimeout)
	h.conn = conn
	h.run(r.Context())
}

// offers reports whether a comma-separated header lists want.
func offers(values []string, want string) bool {
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == want {
				return true
			}
		}
	}
	return false
}

// spdyHijacker gives the SPDY upgrader, which asks for http.Hijacker
// itself, the connection of a ResponseWriter that wraps the server's, with
// its SPDY frames bounded to maxFrame bytes.
type spdyHijacker struct {
	http.ResponseWriter
	maxFrame int
}

func (h spdyHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Reads go through what the server buffered, then the connection; the
	// upgrader reads its own buffer only when it holds bytes, and this new
	// one never does.
	lc := &spdyFrameLimit{Conn: c, r: brw.Reader, max: h.maxFrame}
	return lc, bufio.NewReadWriter(bufio.NewReader(lc), brw.Writer), nil
}

// spdyFrameLimit fails the connection on an SPDY frame longer than max:
// the SPDY library reads a whole frame into memory, and a frame may
// declare up to 16 MiB. kubectl's frames are 32 KiB at most.
type spdyFrameLimit struct {
	net.Conn
	r    io.Reader // the connection's bytes, to read through
	max  int
	hdr  [8]byte // the frame header being read
	nhdr int
	left int // payload bytes left in the current frame
}

func (f *spdyFrameLimit) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	for i := 0; i < n; {
		if f.left > 0 {
			k := min(n-i, f.left)
			f.left -= k
			i += k
			continue
		}
		f.hdr[f.nhdr] = p[i]
		f.nhdr++
		i++
		if f.nhdr == len(f.hdr) {
			f.nhdr = 0
			// The last three bytes of a frame header are its length.
			f.left = int(f.hdr[5])<<16 | int(f.hdr[6])<<8 | int(f.hdr[7])
			if f.left > f.max {
				return 0, fmt.Errorf("an SPDY frame of %d bytes, over the limit of %d", f.left, f.max)
			}
		}
	}
	return n, err
}

// pfSession is one port-forward connection: it pairs the streams the
// client opens and forwards each pair to the pod.
type pfSession struct {
	conn    httpstream.Connection
	dial    func(ctx context.Context, port uint16) (net.Conn, error)
	pod     string
	streams chan httpstream.Stream
	done    chan struct{} // closed when run ends: no more streams are taken
	log     *slog.Logger

	mu    sync.Mutex
	pairs map[string]*pfPair
	wg    sync.WaitGroup
}

// pfPair is the data and error streams of one forwarded connection.
type pfPair struct {
	id          string
	port        uint16
	data, error httpstream.Stream
	complete    chan struct{}
}

// accept checks the headers of a stream the client opens; a stream it
// refuses is reset.
func (h *pfSession) accept(stream httpstream.Stream, _ <-chan struct{}) error {
	if _, err := pfPort(stream.Headers().Get(pfHeaderPort)); err != nil {
		return err
	}
	switch t := stream.Headers().Get(pfHeaderStreamType); t {
	case pfStreamData, pfStreamError:
	default:
		return fmt.Errorf("%s: must be %q or %q, not %q", pfHeaderStreamType, pfStreamData, pfStreamError, t)
	}
	select {
	case h.streams <- stream:
		return nil
	case <-h.done:
		return errors.New("the port-forward session is ending")
	}
}

func pfPort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%s: must be a port number from 1 to 65535, not %q", pfHeaderPort, s)
	}
	return uint16(p), nil
}

// run pairs streams until the connection closes or ctx ends, then waits
// for the forwarded connections, which end with it.
func (h *pfSession) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		close(h.done)
		cancel()
		h.conn.Close()
		h.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.conn.CloseChan():
			return
		case stream := <-h.streams:
			h.add(ctx, stream)
		}
	}
}

// add puts a stream into its pair, and starts forwarding when the pair is
// complete.
func (h *pfSession) add(ctx context.Context, stream httpstream.Stream) {
	id := stream.Headers().Get(pfHeaderRequestID)
	if id == "" {
		// Clients before Kubernetes 1.4 sent no request id; none is in use.
		h.refuse(stream, pfHeaderRequestID+": missing; this client is too old")
		return
	}
	port, _ := pfPort(stream.Headers().Get(pfHeaderPort))
	h.mu.Lock()
	p, ok := h.pairs[id]
	if !ok {
		if len(h.pairs) >= pfMaxPairs {
			h.mu.Unlock()
			h.refuse(stream, fmt.Sprintf("more than %d connections forwarded at once in one port-forward", pfMaxPairs))
			return
		}
		p = &pfPair{id: id, port: port, complete: make(chan struct{})}
		h.pairs[id] = p
		h.wg.Go(func() { h.awaitPair(ctx, p) })
	}
	var err error
	switch {
	case p.port != port:
		err = fmt.Errorf("request %s: the streams name different ports (%d, %d)", id, p.port, port)
	case stream.Headers().Get(pfHeaderStreamType) == pfStreamData && p.data == nil:
		p.data = stream
	case stream.Headers().Get(pfHeaderStreamType) == pfStreamError && p.error == nil:
		p.error = stream
	default:
		err = fmt.Errorf("request %s: a second %s stream", id, stream.Headers().Get(pfHeaderStreamType))
	}
	complete := err == nil && p.data != nil && p.error != nil
	if complete {
		close(p.complete)
	}
	h.mu.Unlock()
	if err != nil {
		h.refuse(stream, err.Error())
	}
}

// refuse ends a stream that cannot be used, saying why when it is an
// error stream.
func (h *pfSession) refuse(stream httpstream.Stream, msg string) {
	if stream.Headers().Get(pfHeaderStreamType) == pfStreamError {
		_, _ = io.WriteString(stream, msg)
	}
	stream.Close()
	h.conn.RemoveStreams(stream)
}

// awaitPair forwards the pair once both its streams came, or gives up
// after pfPairTimeout.
func (h *pfSession) awaitPair(ctx context.Context, p *pfPair) {
	defer func() {
		h.mu.Lock()
		delete(h.pairs, p.id)
		h.mu.Unlock()
	}()
	t := time.NewTimer(pfPairTimeout)
	defer t.Stop()
	select {
	case <-p.complete:
	case <-t.C:
		h.mu.Lock()
		data, errs := p.data, p.error
		h.mu.Unlock()
		for _, st := range []httpstream.Stream{data, errs} {
			if st != nil {
				h.refuse(st, fmt.Sprintf("request %s: timed out waiting for its other stream", p.id))
			}
		}
		return
	case <-ctx.Done():
		return
	}
	h.forward(ctx, p)
}

// forward copies between the data stream and a new connection to the
// pod's port. It ends when the pod's side ends, or the session does.
func (h *pfSession) forward(ctx context.Context, p *pfPair) {
	defer h.conn.RemoveStreams(p.data, p.error)
	defer p.error.Close()
	defer p.data.Close()
	dctx, cancel := context.WithTimeout(ctx, pfDialTimeout)
	pod, err := h.dial(dctx, p.port)
	cancel()
	if err != nil {
		_, _ = fmt.Fprintf(p.error, "error forwarding port %d to pod %s: %v", p.port, h.pod, err)
		return
	}
	defer pod.Close()
	// The session's end resets the streams, which ends both copies.
	in := make(chan struct{})
	h.wg.Go(func() {
		defer close(in)
		if _, err := io.Copy(pod, p.data); err == nil {
			// The client has nothing more to send: pass the half-close on.
			if cw, ok := pod.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}
	})
	if _, err := io.Copy(p.data, pod); err != nil && !errors.Is(err, net.ErrClosed) {
		h.log.Debug("port-forward: copying from the pod ended", "pod", h.pod, "port", p.port, "err", err)
	}
	// The pod closed its side: closing ours tells the client, which then
	// closes its own, and the copy above ends.
	p.data.Close()
	select {
	case <-in:
	case <-ctx.Done():
	case <-h.conn.CloseChan():
	}
}

// wsNetConn is a websocket seen as a byte stream, as kubectl's tunnel
// writes it: each binary message carries the next bytes.
type wsNetConn struct {
	conn         *websocket.Conn
	writeTimeout time.Duration // a client that stops reading is cut off
	r            io.Reader     // the message being read
	wmu          sync.Mutex
}

func (c *wsNetConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.conn.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("port-forward tunnel: a message of type %d; only binary messages carry the stream", typ)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsNetConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeTimeout > 0 {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if err := c.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsNetConn) Close() error {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return c.conn.Close()
}

func (c *wsNetConn) LocalAddr() net.Addr  { return c.conn.LocalAddr() }
func (c *wsNetConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }
func (c *wsNetConn) SetDeadline(t time.Time) error {
	return errors.Join(c.conn.SetReadDeadline(t), c.conn.SetWriteDeadline(t))
}
func (c *wsNetConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *wsNetConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
