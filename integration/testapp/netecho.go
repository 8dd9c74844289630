package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func runTCPEcho(args []string) error {
	port, banner, err := parseEchoFlags("tcp-echo", args)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stdout, "tcp-echo listening on %s\n", ln.Addr())
	return untilSignal(ln, func() error { return serveTCPEcho(ln, banner) })
}

// serveTCPEcho accepts connections until ln is closed and echoes each one
// back, after the banner if there is one.
func serveTCPEcho(ln net.Listener, banner string) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		fmt.Fprintf(stdout, "tcp-echo: connection from %s\n", conn.RemoteAddr())
		go func() {
			defer conn.Close()
			if banner != "" {
				if _, err := io.WriteString(conn, banner); err != nil {
					return
				}
			}
			io.Copy(conn, conn)
		}()
	}
}

func runUDPEcho(args []string) error {
	port, banner, err := parseEchoFlags("udp-echo", args)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stdout, "udp-echo listening on %s\n", pc.LocalAddr())
	return untilSignal(pc, func() error { return serveUDPEcho(pc, banner) })
}

// serveUDPEcho answers each datagram with the banner, if any, and its data.
func serveUDPEcho(pc net.PacketConn, banner string) error {
	buf := make([]byte, 64*1024)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		fmt.Fprintf(stdout, "udp-echo: %d bytes from %s\n", n, addr)
		reply := append([]byte(banner), buf[:n]...)
		if _, err := pc.WriteTo(reply, addr); err != nil {
			fmt.Fprintf(stderr, "udp-echo: reply to %s: %v\n", addr, err)
		}
	}
}

// parseEchoFlags reads the flags shared by both echo servers. The banner
// is the hostname and a newline when --hostname is given, so a client sees
// which backend answered.
func parseEchoFlags(name string, args []string) (port int, banner string, err error) {
	fs := newFlagSet(name, "[--port N] [--hostname]")
	p := fs.Int("port", defaultPort(9000), "port to listen on (default from $PORT, else 9000)")
	withHost := fs.Bool("hostname", false, "send the hostname and a newline before echoing")
	if _, err := parseExact(fs, args, 0); err != nil {
		return 0, "", err
	}
	if *withHost {
		banner = hostname() + "\n"
	}
	return *p, banner, nil
}

// untilSignal runs serve until it fails or SIGTERM/SIGINT arrives, in which
// case it closes c so serve returns, and reports a clean exit.
func untilSignal(c io.Closer, serve func() error) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	err := serve()
	c.Close()
	return err
}

// runSend is the client for the echo servers: it sends TEXT and a newline
// and prints the reply. busybox nc has no UDP mode, hence this.
func runSend(args []string) error {
	fs := newFlagSet("send", "tcp|udp HOST:PORT TEXT... [--timeout 2s]")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout for the whole exchange")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 || (pos[0] != "tcp" && pos[0] != "udp") {
		return usageError(fs, "want tcp|udp, an address and text")
	}
	reply, err := send(pos[0], pos[1], strings.Join(pos[2:], " ")+"\n", *timeout)
	stdout.Write(reply)
	return err
}

// send writes msg to addr and returns the reply: everything until the
// server closes for TCP, one datagram for UDP.
func send(network, addr, msg string, timeout time.Duration) ([]byte, error) {
	conn, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, msg); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.CloseWrite() // the echo server ends its copy, then closes
		reply, err := io.ReadAll(conn)
		if err != nil {
			return reply, fmt.Errorf("receive: %w", err)
		}
		return reply, nil
	}
	buf := make([]byte, 64*1024)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	return buf[:n], nil
}
