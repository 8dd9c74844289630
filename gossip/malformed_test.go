package gossip_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// userMsg is memberlist's message type for user data (its wire protocol).
const userMsg = 8

// Garbage user messages are dropped and counted; the member keeps working.
func TestMalformedGossipIsDroppedAndCounted(t *testing.T) {
	c := gossiptest.New(t, 2, gossiptest.Options{})
	target := c.Member(1)
	conn, err := net.Dial("udp", target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	garbage := [][]byte{
		{userMsg},                         // empty user message
		{userMsg, 99, 1, 2, 3},            // unknown type
		{userMsg, 1, 1, 0, 0xff, 0xff, 1}, // truncated record
		{userMsg, 2, 0x80},                // truncated announce
	}
	for _, g := range garbage {
		pkt, err := memberlist.AddLabelHeaderToPacket(g, "shoal")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "condition", func() error {
		if n := target.Cluster().Stats().Malformed; n < int64(len(garbage)) {
			return fmt.Errorf("%d malformed counted, want %d", n, len(garbage))
		}
		return nil
	})
	c.Member(0).Put("after", "ok")
	poll.Until(t, 5*time.Second, "condition", func() error {
		if r := target.Store.Get("after"); r == nil {
			return fmt.Errorf("%s stopped replicating", target.Name)
		}
		return nil
	})
	if err := c.MembersAgree(); err != nil {
		t.Fatal(err)
	}
}
