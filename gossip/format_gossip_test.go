package gossip_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// A record of a newer format gossiped by a peer (an agent of a later
// release) is dropped and counted, never stored as a misread record.
func TestGossipedRecordOfNewerFormatIsDropped(t *testing.T) {
	c := gossiptest.New(t, 2, gossiptest.Options{})
	target := c.Member(1)
	rec, _ := (&gossip.Record{Key: "newer", Version: gossip.Version{Time: uint64(time.Now().UnixNano()), Node: c.Member(0).Name},
		Value: []byte("v")}).MarshalBinary()
	rec[0] = gossip.RecordFormat + 1
	pkt, err := memberlist.AddLabelHeaderToPacket(append([]byte{userMsg, 1}, rec...), "shoal")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := target.Cluster().Stats().Malformed
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the record counted as malformed", func() error {
		if n := target.Cluster().Stats().Malformed; n <= before {
			return fmt.Errorf("malformed %d", n)
		}
		return nil
	})
	if r := target.Store.Get("newer"); r != nil {
		t.Fatalf("the record of a newer format was stored: %+v", r)
	}
}
