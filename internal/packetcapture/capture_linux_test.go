package packetcapture

import (
	"bytes"
	"net"
	"os"
	"testing"
)

// TestCaptureSeesLoopbackTraffic captures on the loopback device of this
// process's own namespace and finds a datagram sent there.
func TestCaptureSeesLoopbackTraffic(t *testing.T) {
	// The switch of every test that needs root (scripts/test sets it).
	if os.Getenv("SHOAL_TEST_DOCKER") != "1" {
		t.Skip("needs root for a packet socket; set SHOAL_TEST_DOCKER=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("SHOAL_TEST_DOCKER=1 but not root")
	}
	c, err := Start("/proc/self/ns/net", "lo")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	marker := []byte("packetcapture-marker-5b1f")
	s, err := net.Dial("udp4", l.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(marker); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, _, err := l.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	seen, dropped := c.End()
	if !bytes.Contains(seen, marker) {
		t.Errorf("the capture of %d bytes lacks the datagram sent on lo", len(seen))
	}
	if dropped != 0 {
		t.Errorf("%d frames dropped", dropped)
	}
	if again, _ := c.End(); len(again) != len(seen) {
		t.Errorf("a second End returned %d bytes, the first %d", len(again), len(seen))
	}
}
