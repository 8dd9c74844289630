package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"

	"github.com/shoal-dev/shoal/api"
)

// Stream types of exec and attach over SPDY: one SPDY stream each, named
// by the streamType header.
const (
	spdyStreamError  = "error"
	spdyStreamStdin  = "stdin"
	spdyStreamStdout = "stdout"
	spdyStreamStderr = "stderr"
	spdyStreamResize = "resize"
)

// spdyStreamsTimeout is how long the client may take to open the streams
// its request asked for.
const spdyStreamsTimeout = 30 * time.Second

// serveStdioSPDY streams an exec or attach over an SPDY upgrade: kubectl's
// fallback when its websocket upgrade fails, and what kubectl before 1.30
// sends. Only v4 and v5 (which over SPDY is v4: a stream closes itself)
// are spoken; both end with the Status of execStatus on the error stream.
func (s *Server) serveStdioSPDY(w http.ResponseWriter, r *http.Request, what string, opts api.ExecOptions, run stdioFunc) {
	if _, err := httpstream.Handshake(r, w, []string{api.ExecProtocolV5, api.ExecProtocol}); err != nil {
		return // Handshake has answered
	}
	// The client opens exactly the streams it names true; one not named
	// is not coming (Kubernetes' reading, which kubectl relies on), unlike
	// the websocket, where an unused channel costs nothing.
	q := r.URL.Query()
	opts.Stdout = isTrue(q.Get("stdout"))
	opts.Stderr = isTrue(q.Get("stderr")) && !opts.TTY
	want := map[string]bool{spdyStreamError: true, spdyStreamStdin: opts.Stdin, spdyStreamStdout: opts.Stdout,
		spdyStreamStderr: opts.Stderr, spdyStreamResize: opts.TTY}
	expected := 0
	for _, w := range want {
		if w {
			expected++
		}
	}
	incoming := make(chan httpstream.Stream, len(want))
	conn := spdy.NewResponseUpgraderWithPings(pfPingPeriod).UpgradeResponse(spdyHijacker{w, s.cfg.Limits.MaxWebsocketMessage}, r,
		func(st httpstream.Stream, _ <-chan struct{}) error {
			if !want[st.Headers().Get("streamType")] {
				return fmt.Errorf("streamType %q: not one this request asked for", st.Headers().Get("streamType"))
			}
			select {
			case incoming <- st:
				return nil
			default:
				return fmt.Errorf("more streams than the request asked for")
			}
		})
	if conn == nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	conn.SetIdleTimeout(pfIdleTimeout)

	streams := map[string]httpstream.Stream{}
	timeout := time.NewTimer(spdyStreamsTimeout)
	defer timeout.Stop()
	for len(streams) < expected {
		select {
		case st := <-incoming:
			typ := st.Headers().Get("streamType")
			if streams[typ] != nil {
				_ = st.Reset()
				continue
			}
			streams[typ] = st
		case <-timeout.C:
			var missing []string
			for typ, w := range want {
				if w && streams[typ] == nil {
					missing = append(missing, typ)
				}
			}
			slices.Sort(missing)
			msg := fmt.Sprintf("%s: the streams %s the request named did not come within %v", what, strings.Join(missing, ", "), spdyStreamsTimeout)
			if st := streams[spdyStreamError]; st != nil {
				b, _ := json.Marshal(execStatus(-1, api.NewBadRequest(msg)))
				_, _ = st.Write(b)
				_ = st.Close()
			}
			s.log.Debug(msg)
			return
		case <-conn.CloseChan():
			return
		case <-r.Context().Done():
			return
		}
	}

	// The command ends when the client goes away: nobody reads its output.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-conn.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()
	var resize chan api.TerminalSize
	if st := streams[spdyStreamResize]; st != nil {
		resize = make(chan api.TerminalSize, 4)
		go func() {
			// Ends with the stream, which the connection's end resets.
			dec := json.NewDecoder(io.LimitReader(st, 1<<20))
			for {
				var sz api.TerminalSize
				if dec.Decode(&sz) != nil {
					return
				}
				select {
				case resize <- sz:
				default:
				}
			}
		}()
	}
	var stdin io.Reader
	if st := streams[spdyStreamStdin]; st != nil {
		stdin = st
	}
	var stdout, stderr io.Writer
	if st := streams[spdyStreamStdout]; st != nil {
		stdout = st
	}
	if st := streams[spdyStreamStderr]; st != nil {
		stderr = st
	}
	code, err := run(ctx, opts, stdin, stdout, stderr, resize)
	if err != nil {
		v := mux.Vars(r)
		s.log.Debug(what+" ended with an error", "pod", v["namespace"]+"/"+v["name"], "err", err)
	}
	b, _ := json.Marshal(execStatus(code, err))
	errStream := streams[spdyStreamError]
	_, _ = errStream.Write(b)
	// Closing our side of each stream ends the client's copies; it then
	// closes the connection.
	for _, st := range streams {
		_ = st.Close()
	}
	select {
	case <-conn.CloseChan():
	case <-time.After(5 * time.Second):
	}
}
