package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

// backendEnv makes the test binary a backend server instead of running
// tests: it listens on each address of the comma-separated list, over TCP
// and UDP, and answers every connection or datagram with its port and the
// address the client came from ("9001 10.99.0.1"). It
// prints "ready" once listening and exits when its stdin closes.
const backendEnv = "SHOAL_PROXY_TEST_BACKENDS"

func TestMain(m *testing.M) {
	if addrs := os.Getenv(backendEnv); addrs != "" {
		if err := serveBackends(strings.Split(addrs, ",")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveBackends(addrs []string) error {
	for _, a := range addrs {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp4", a)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				from, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				fmt.Fprintln(c, port, from)
				c.Close()
			}
		}()
		pc, err := net.ListenPacket("udp4", a)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				host, _, _ := net.SplitHostPort(from.String())
				pc.WriteTo([]byte(port+" "+host+"\n"), from)
			}
		}()
	}
	fmt.Println("ready")
	// The parent holds our stdin; when it goes, so do we.
	_, err := io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	return err
}
