package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/enginehealth"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
)

// DefaultPodEvictionTimeout is how long a node nobody hears from keeps its
// pods after memberlist declared it dead (which takes about 3 s). 2 s puts
// a failover at about 6 s; on a link losing 20% of its packets no node was
// declared dead at all (docs/decisions.md), so the timeout is not what
// guards against false alarms there. A node whose agent stopped on purpose
// or whose engine is down waits at least nodelifecycle.RestartGrace (10 s).
const DefaultPodEvictionTimeout = 2 * time.Second

// Config is the agent's configuration; DefaultConfig gives the defaults of the
// interface contract, flags override them.
type Config struct {
	Name    string
	DataDir string
	APIAddr string
	// APIAllowedHosts are extra names a request's Host header may carry
	// (besides IP addresses, localhost, the node name and the host name).
	APIAllowedHosts []string
	Bind            string
	Advertise       string
	Join            []string
	DockerHost      string

	ClusterCIDR string
	// PodNetworkBackend is how pods reach other hosts' pods: host-gw,
	// vxlan, wireguard or auto (docs/networking.md, Backends).
	PodNetworkBackend string
	// WireGuardPort is the UDP port of the WireGuard device, the same on
	// every host.
	WireGuardPort int
	ServiceCIDR   string
	DNSAddr       string   // "": the advertise address, port 53; "off": none
	DNSUpstreams  []string // resolvers for names outside the cluster; empty: /etc/resolv.conf
	ClusterDomain string
	IngressAddr   string
	// IngressTLSAddr serves the Ingresses over HTTPS; "": not at all.
	IngressTLSAddr string
	NodeLabels     map[string]string

	PodEvictionTimeout time.Duration
	// EngineCheckInterval and EngineCheckTimeout set the engine health
	// check: a ping every interval, each given the timeout.
	EngineCheckInterval time.Duration
	EngineCheckTimeout  time.Duration

	// JoinToken admits an agent without an identity into the cluster it
	// joins (`shoal join-token` on a member prints it).
	JoinToken string
	// TLSCert and TLSKey, when given, serve the API with the operator's
	// own certificate instead of the one the cluster CA issued.
	TLSCert, TLSKey string
	// NodeCertValidity is the lifetime of the node certificates this
	// agent issues (0: identity.DefaultNodeValidity); short in tests.
	NodeCertValidity time.Duration
	// PodSecurityDefault is the Pod Security level of namespaces without a
	// pod-security.kubernetes.io/enforce label.
	PodSecurityDefault string
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
		Name:                strings.ToLower(host),
		DataDir:             "/var/lib/shoal",
		APIAddr:             "0.0.0.0:7480",
		Bind:                "0.0.0.0:7481",
		DockerHost:          dockerHost,
		ClusterCIDR:         "10.244.0.0/16",
		PodNetworkBackend:   "auto",
		WireGuardPort:       wireguard.DefaultPort,
		ServiceCIDR:         "10.96.0.0/16",
		ClusterDomain:       "cluster.local",
		IngressAddr:         "0.0.0.0:80",
		IngressTLSAddr:      "0.0.0.0:443",
		PodEvictionTimeout:  DefaultPodEvictionTimeout,
		EngineCheckInterval: enginehealth.DefaultInterval,
		EngineCheckTimeout:  enginehealth.DefaultTimeout,
		PodSecurityDefault:  "baseline",
		MaxClockOffset:      gossip.DefaultMaxClockOffset,
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

// apiAllowedHosts are the names the API answers to: the node name, the
// host's name, the names in --api-addr and --advertise, and the extra names
// given with --api-allowed-hosts. IP addresses and localhost always pass.
func (c Config) apiAllowedHosts() []string {
	names := []string{c.Name}
	if host, err := os.Hostname(); err == nil {
		names = append(names, host)
	}
	for _, addr := range []string{c.APIAddr, c.Advertise} {
		if host, _, err := net.SplitHostPort(addr); err == nil && host != "" && net.ParseIP(host) == nil {
			names = append(names, host)
		}
	}
	// The kubernetes Service's names, by which pods reach the API.
	names = append(names, identity.KubernetesServiceNames...)
	names = append(names, "kubernetes.default.svc."+c.ClusterDomain)
	return append(names, c.APIAllowedHosts...)
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
