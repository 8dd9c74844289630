// Package daemon is the agent of one host: it wires the replicated store, the
// engine driver, the pod runner, the controllers and the API server, and owns
// every long-running loop through one context.
package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/gossip"
)

// Config is the agent's configuration; DefaultConfig gives the defaults of the
// interface contract, flags override them.
type Config struct {
	Name       string
	DataDir    string
	APIAddr    string
	Bind       string
	Advertise  string
	Join       []string
	DockerHost string

	ClusterCIDR   string
	ServiceCIDR   string
	DNSAddr       string   // "": the advertise address, port 53; "off": none
	DNSUpstreams  []string // resolvers for names outside the cluster; empty: /etc/resolv.conf
	ClusterDomain string
	IngressAddr   string
	NodeLabels    map[string]string

	PodEvictionTimeout time.Duration
	// MaxClockOffset is how far ahead of this host's clock a version from
	// another agent may be; anything beyond is refused.
	MaxClockOffset time.Duration
	// DropFutureRecords deletes, at start, the records of state.db stamped
	// beyond now + MaxClockOffset instead of refusing to start.
	DropFutureRecords bool
	// Version is reported by /version and on the Node object.
	Version string
	// ExePath is the agent's own binary, from which the pod sandbox image is
	// built; empty means the running executable.
	ExePath string
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	dockerHost := os.Getenv("DOCKER_HOST")
	if dockerHost == "" {
		dockerHost = "unix:///var/run/docker.sock"
	}
	return Config{
		Name:               strings.ToLower(host),
		DataDir:            "/var/lib/shoal",
		APIAddr:            "0.0.0.0:7480",
		Bind:               "0.0.0.0:7481",
		DockerHost:         dockerHost,
		ClusterCIDR:        "10.244.0.0/16",
		ServiceCIDR:        "10.96.0.0/16",
		ClusterDomain:      "cluster.local",
		IngressAddr:        "0.0.0.0:80",
		PodEvictionTimeout: 10 * time.Second,
		MaxClockOffset:     gossip.DefaultMaxClockOffset,
	}
}

// ParseLabels parses "k=v,k2=v2".
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--node-labels: %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// advertiseAddress picks the address other hosts reach this one at: the
// configured one, else the bind address, else the address of the interface
// holding the default route.
func (c Config) advertiseAddress() string {
	if c.Advertise != "" {
		host, _, err := net.SplitHostPort(c.Advertise)
		if err == nil {
			return host
		}
		return c.Advertise
	}
	if host, _, err := net.SplitHostPort(c.Bind); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		return host
	}
	// A UDP "connection" sends nothing; it only asks the kernel for a route.
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer conn.Close()
		return conn.LocalAddr().(*net.UDPAddr).IP.String()
	}
	return "127.0.0.1"
}
