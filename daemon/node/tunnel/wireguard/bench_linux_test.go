//go:build linux

package wireguard

import (
	"bufio"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// The benchmarks compare the userspace tunnel with the plain veth it runs
// over, in one run: go test -run '^$' -bench . (with SHOAL_TEST_DOCKER=1).
// CPU figures are the whole test process's (client, server and, through
// the tunnel, both ends' encryption), per operation.

// benchPath is a connection from a to b, over the underlay or the tunnel.
func benchPath(b *testing.B, tunnel bool) (a *host, l net.Listener, conn net.Conn) {
	b.Helper()
	needRoot(b)
	c := newCluster(b)
	a, bh := twoHosts(b, c)
	connect(b, a, bh)
	to := bh.underlay
	if tunnel {
		to = bh.gateway
	}
	l = listen(b, bh.ns, to)
	conn, err := dial(b, a.ns, l.Addr().String(), 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return a, l, conn
}

func BenchmarkThroughput(b *testing.B) {
	for _, tc := range []struct {
		name   string
		tunnel bool
	}{{"veth", false}, {"wireguard", true}} {
		b.Run(tc.name, func(b *testing.B) {
			_, l, conn := benchPath(b, tc.tunnel)
			received := make(chan int64, 1)
			go func() {
				s, err := l.Accept()
				if err != nil {
					received <- -1
					return
				}
				defer s.Close()
				n, _ := io.Copy(io.Discard, s)
				received <- n
			}()
			chunk := make([]byte, 1<<20)
			b.SetBytes(int64(len(chunk)))
			cpu := cpuTime()
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			conn.(*net.TCPConn).CloseWrite()
			if n := <-received; n != int64(b.N)*int64(len(chunk)) {
				b.Fatalf("received %d bytes, sent %d", n, int64(b.N)*int64(len(chunk)))
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/MiB")
		})
	}
}

func BenchmarkRequest(b *testing.B) {
	for _, tc := range []struct {
		name   string
		tunnel bool
	}{{"veth", false}, {"wireguard", true}} {
		b.Run(tc.name, func(b *testing.B) {
			_, l, conn := benchPath(b, tc.tunnel)
			go func() {
				s, err := l.Accept()
				if err != nil {
					return
				}
				defer s.Close()
				r := bufio.NewReader(s)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if _, err := s.Write(line); err != nil {
						return
					}
				}
			}()
			req := []byte("GET /a-small-request HTTP/1.1 with some bytes of headers....\n")
			r := bufio.NewReader(conn)
			cpu := cpuTime()
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := r.ReadSlice('\n'); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/req")
		})
	}
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
