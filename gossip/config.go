package gossip

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// ClusterConfig configures an agent's membership and replication.
type ClusterConfig struct {
	// NodeName is the agent's name; it must be unique in the cluster.
	NodeName string
	// BindAddr is the gossip address (UDP and TCP), host:port. Port 0 picks
	// a free port (tests).
	BindAddr string
	// AdvertiseAddr is the address other agents reach this one at,
	// ip:port. Default: BindAddr, or a private address of this host when
	// BindAddr's host is unspecified (0.0.0.0).
	AdvertiseAddr string
	// Join lists agents to join (host:port). Joining retries in the
	// background until one answers.
	Join []string
	// DataDir holds peers.json (remembered peers, last contact); "" keeps
	// nothing on disk.
	DataDir string
	// Meta is told to the other agents; APIAddr is required, since records
	// are pulled from it.
	Meta NodeMeta
	// Profile selects timings: ProfileLAN (default) or ProfileLocal (tests).
	Profile Profile
	// Validate checks what a record received from elsewhere means, after
	// the structural checks gossip makes itself (validate.go); an error
	// refuses the record. Required: nothing received is stored unchecked.
	// The agent passes its RecordValidators (objects under "o/" and "s/",
	// refusing any other prefix); tests may accept any key.
	Validate func(*Record) error
	// Fetcher pulls records and digests from other members. Default: HTTP
	// POST to the member's APIAddr + PullPath and DigestPath, with
	// HTTPClient.
	Fetcher Fetcher
	// HTTPClient is used by the default Fetcher (default: a client with
	// the profile's timeout).
	HTTPClient *http.Client
	// Compression turns on memberlist's LZW compression of every packet and
	// stream it sends. Off by default: it saved about a quarter of a small
	// record's bytes but cost each packet a fresh 78 KB compressor (27 µs
	// and the garbage), and each write is pushed to Fanout members and
	// relayed by each; BenchmarkWriteBurst in gossiptest measures both.
	// Receivers read compressed and plain packets alike, so agents that
	// differ in this setting work together.
	Compression bool
	// Fanout is how many random members get each new record at once,
	// besides the gossip queue: 0 means the profile's (3), negative none.
	Fanout int
	// Retention is the tombstone retention (default 24 h); an agent out of
	// contact for longer says so when it starts. Every agent must use the
	// same: a peer's collection horizon newer than now - Retention + the
	// maximum clock offset is refused (a horizon is the newest tombstone
	// collected, and tombstones are collected only after the retention).
	// The clock bound itself is the store's (WithMaxClockOffset).
	Retention time.Duration
	// Keyring encrypts and authenticates all gossip (memberlist's AES-GCM
	// keyring); the agent always sets it. Without it gossip is in clear
	// (in-process tests only).
	Keyring *memberlist.Keyring
	// Partition, if set, drops gossip to and from the peers for whose
	// gossip address it returns true (fault injection in tests). It must
	// answer alike on both sides: only outgoing streams are checked.
	Partition func(peerAddr string) bool
}

// DefaultRetention is the tombstone retention of the design.
const DefaultRetention = 24 * time.Hour

// memberlistLabel keeps shoal's gossip apart from any other memberlist
// cluster on the network (Docker Swarm's, say).
const memberlistLabel = "shoal"

// advertise returns the advertised ip and port: given, or left to
// memberlist (a private address of this host) with the bound port.
func advertise(addr string, boundPort int) (string, int, error) {
	if addr == "" {
		return "", boundPort, nil
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if port == 0 {
		port = boundPort
	}
	if net.ParseIP(host) == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return "", 0, fmt.Errorf("%s is not an IP and does not resolve: %v", addr, err)
		}
		host = ips[0].String()
	}
	return host, port, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}
