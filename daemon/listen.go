package daemon

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/shoal-dev/shoal/api"
)

// httpsOnly wraps the API's TCP listener: TLS connections are handed to
// the TLS server, and a plain-HTTP request is answered, on the spot, with
// a 400 Status that says to use https (rather than the TLS layer's
// unreadable alert), then closed.
type httpsOnly struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	url   string // how to reach the API, for the message
	slots chan struct{}
}

func newHTTPSOnly(l net.Listener, url string) *httpsOnly {
	h := &httpsOnly{Listener: l, conns: make(chan net.Conn), done: make(chan struct{}), url: url,
		slots: make(chan struct{}, 1024)}
	go h.accept()
	return h
}

func (h *httpsOnly) accept() {
	for {
		c, err := h.Listener.Accept()
		if err != nil {
			h.Close()
			return
		}
		// At most cap(slots) connections are sorted at once; beyond, the
		// accept loop waits and the kernel's backlog holds the rest.
		select {
		case h.slots <- struct{}{}:
		case <-h.done:
			c.Close()
			return
		}
		go func() {
			defer func() { <-h.slots }()
			h.sort(c)
		}()
	}
}

func (h *httpsOnly) sort(c net.Conn) {
	br := bufio.NewReaderSize(c, 1024)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if first[0] == 0x16 { // a TLS handshake
		select {
		case h.conns <- &bufferedConn{Conn: c, r: br}:
		case <-h.done:
			c.Close()
		}
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if req, err := http.ReadRequest(br); err == nil {
		req.Body.Close()
	}
	st := api.NewBadRequest(fmt.Sprintf("this shoal agent serves HTTPS only: use %s (with the cluster's CA and a credential, "+
		"as in the kubeconfig the first agent wrote, <data-dir>/admin.kubeconfig)", h.url)).ErrStatus
	body, _ := json.Marshal(st)
	fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

func (h *httpsOnly) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *httpsOnly) Close() error {
	h.once.Do(func() {
		close(h.done)
		h.Listener.Close()
	})
	return nil
}

// bufferedConn reads first what was read ahead to sort the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// maxAPIConns bounds the API's open connections: each TLS connection holds
// some 50 KiB, so 2,000 clients at once would take 100 MiB. Beyond it, new
// connections wait in the kernel's backlog until one closes (HTTP/2
// clients, kubectl among them, need one connection each).
const maxAPIConns = 512

// listenAPI listens for the API over TLS on addr.
func listenAPI(addr, url string, cfg *tls.Config) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(newHTTPSOnly(netutil.LimitListener(l, maxAPIConns), url), cfg), nil
}
