//go:build linux

package integration

import (
	"testing"

	"github.com/shoal-dev/shoal/internal/packetcapture"
)

// startPacketCapture captures on ifname of the namespace at nsPath until
// End (or the test's end).
func startPacketCapture(t *testing.T, nsPath, ifname string) *packetcapture.Capture {
	t.Helper()
	c, err := packetcapture.Start(nsPath, ifname)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.End() })
	return c
}
