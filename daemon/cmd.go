package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
	"github.com/shoal-dev/shoal/registry/admission/podsecurity"
)

// NewAgentCommand is `shoal agent`. Every flag can also be set by an
// environment variable SHOAL_<FLAG> (upper case, dashes as underscores);
// a flag on the command line wins.
func NewAgentCommand(version string) *cobra.Command {
	return newAgentCommand(version, Run)
}

// newAgentCommand is `shoal agent` running run with the settings; tests
// give a run that only records them.
func newAgentCommand(version string, run func(context.Context, Config, *slog.Logger) error) *cobra.Command {
	cfg := DefaultConfig()
	cfg.Version = version
	var raw rawFlags
	var configFile string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the shoal agent of this host",
		Long: `Run the shoal agent: it drives this host's Docker Engine, keeps a replica of the
cluster state, runs the pods bound to this host and serves the API.

Every flag can also be set with an environment variable SHOAL_<FLAG>, for example
SHOAL_DATA_DIR=/srv/shoal, or as a key of the YAML file --config names (the keys
are the flag names: data-dir: /srv/shoal). A flag on the command line wins over
the environment, which wins over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd.Flags()); err != nil {
				return err
			}
			if configFile != "" {
				if err := applyConfigFile(cmd.LocalFlags(), configFile); err != nil {
					return err
				}
			}
			if err := raw.apply(&cfg); err != nil {
				return err
			}
			log, err := newLogger(raw.logLevel, raw.logFormat)
			if err != nil {
				return err
			}
			if err := cfg.validate(); err != nil {
				if configFile != "" {
					return fmt.Errorf("%w (a flag, or the key of that name in %s)", err, configFile)
				}
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return run(ctx, cfg, log)
		},
	}
	bindAgentFlags(cmd.Flags(), &cfg, &raw)
	cmd.Flags().StringVar(&configFile, configFlag, "", "YAML file of agent settings, one key per flag (data-dir: /srv/shoal); flags and SHOAL_* variables override it (docs/install.md)")
	return cmd
}

// configFlag names the agent's configuration file; it is the one flag
// without a key in that file.
const configFlag = "config"

// rawFlags holds the flags whose text is parsed into Config after the
// command line, the environment and the configuration file are applied.
type rawFlags struct {
	join, labels, dnsUpstreams, allowedHosts, logLevel, logFormat string
}

// apply parses the raw flags into cfg.
func (r rawFlags) apply(cfg *Config) error {
	var err error
	if cfg.NodeLabels, err = ParseLabels(r.labels); err != nil {
		return err
	}
	cfg.Join = splitList(r.join)
	cfg.DNSUpstreams = splitList(r.dnsUpstreams)
	cfg.APIAllowedHosts = splitList(r.allowedHosts)
	return nil
}

// bindAgentFlags defines every flag of `shoal agent` on f, with cfg's
// values as defaults. The names are also the keys of the configuration
// file and, upper-cased, the SHOAL_* variables.
func bindAgentFlags(f *pflag.FlagSet, cfg *Config, raw *rawFlags) {
	f.StringVar(&cfg.Name, "name", cfg.Name, "node name, a DNS-1123 subdomain")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the agent's state")
	f.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "address of the HTTP API")
	f.StringVar(&raw.allowedHosts, "api-allowed-hosts", "", "more names clients may reach the API by, name,... (IP addresses, localhost, the node name and the host name are always accepted; any other Host is refused, against DNS rebinding)")
	f.StringVar(&cfg.Bind, "bind", cfg.Bind, "gossip bind address, ip:port")
	f.StringVar(&cfg.Advertise, "advertise", "", "address other agents reach this one at (default: detected)")
	f.StringVar(&raw.join, "join", "", "agents to join, host:port,... (any one that answers is enough)")
	f.StringVar(&cfg.DockerHost, "docker-host", cfg.DockerHost, "Docker Engine to drive")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "pod network of the cluster; every node takes a /24 of it")
	f.StringVar(&cfg.PodNetworkBackend, "pod-network-backend", cfg.PodNetworkBackend, "how pods reach other hosts' pods: host-gw (routes via the hosts' addresses; one network segment), vxlan (encapsulated in UDP 8472 between the hosts), wireguard (encrypted, UDP --wireguard-port, to every host that publishes a key of this cluster) or auto (host-gw to hosts on a directly connected subnet; to the others wireguard when both publish a key, else vxlan)")
	f.IntVar(&cfg.WireGuardPort, "wireguard-port", cfg.WireGuardPort, "UDP port of the WireGuard device (backends wireguard and auto); the same on every host")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "virtual IP range of services")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", cfg.ClusterDomain, "DNS domain of the cluster")
	f.StringVar(&cfg.IngressAddr, "ingress-addr", cfg.IngressAddr, "address of the HTTP ingress proxy (empty: none)")
	f.StringVar(&cfg.IngressTLSAddr, "ingress-tls-addr", cfg.IngressTLSAddr, "address of the HTTPS ingress proxy, which terminates TLS with the Ingresses' spec.tls Secrets (empty: none)")
	f.StringVar(&cfg.DNSAddr, "dns-addr", "", "host address of the cluster DNS server, ip:port (default: the advertise address, port 53; \"off\": none; pods always use the pod bridge's gateway)")
	f.StringVar(&raw.dnsUpstreams, "dns-upstream", "", "resolvers for names outside the cluster, ip[:port],... (default: the nameservers of /etc/resolv.conf)")
	f.StringVar(&raw.labels, "node-labels", "", "labels of this node, k=v,...")
	f.DurationVar(&cfg.PodEvictionTimeout, "pod-eviction-timeout", cfg.PodEvictionTimeout, "how long a node nobody hears from may be down before its pods are replaced elsewhere (at least 10s for a node whose agent stopped or whose engine is down)")
	f.DurationVar(&cfg.EngineCheckInterval, "engine-check-interval", cfg.EngineCheckInterval, "how often the agent pings its container engine; two failed pings in a row make the node NotReady")
	f.DurationVar(&cfg.EngineCheckTimeout, "engine-check-timeout", cfg.EngineCheckTimeout, "how long a ping of the container engine may take before it counts as failed")
	f.StringVar(&cfg.JoinToken, "join-token", "", "token that admits this agent into the cluster it joins ($SHOAL_JOIN_TOKEN; print it with `shoal join-token` on a member); needed only the first time")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "certificate (PEM) to serve the API with instead of the one the cluster CA issues; with --tls-key")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "private key (PEM) of --tls-cert")
	f.DurationVar(&cfg.NodeCertValidity, "node-cert-validity", 0, "lifetime of the node certificates this agent issues (default 90 days); agents renew theirs when a third is left")
	_ = f.MarkHidden("node-cert-validity")
	f.StringVar(&cfg.PodSecurityDefault, "pod-security-default", cfg.PodSecurityDefault,
		"Pod Security level of namespaces without a pod-security.kubernetes.io/enforce label: privileged, baseline or restricted")
	f.DurationVar(&cfg.MaxClockOffset, "max-clock-offset", cfg.MaxClockOffset, "how far ahead of this host's clock a write of another agent may be stamped; anything further ahead is refused and its sender logged (keep clocks in sync with NTP)")
	f.BoolVar(&cfg.DropFutureRecords, "drop-future-records", false, "at start, delete the stored records stamped beyond this host's clock plus --max-clock-offset, instead of refusing to start (only once the clock is known to be right)")
	f.StringVar(&raw.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&raw.logFormat, "log-format", "text", "text or json")
}

// envDefaults applies SHOAL_* variables to flags not given on the command line.
func envDefaults(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		env := "SHOAL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			// Set through the flag set, which marks the flag given: the
			// configuration file then leaves it alone.
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

// splitList splits "a, b,,c" into [a b c].
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func (c Config) validate() error {
	if errs := api.IsDNS1123Subdomain(c.Name); len(errs) > 0 {
		return fmt.Errorf("--name %q: %s; give a name such as node-1", c.Name, errs[0])
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both, or neither to use the certificate the cluster CA issues")
	}
	if c.NodeCertValidity != 0 && c.NodeCertValidity < time.Minute {
		return fmt.Errorf("--node-cert-validity: at least 1m")
	}
	if _, err := podsecurity.ParseLevel(c.PodSecurityDefault); err != nil {
		return fmt.Errorf("--pod-security-default %q: give privileged, baseline or restricted", c.PodSecurityDefault)
	}
	for _, h := range c.APIAllowedHosts {
		if errs := api.IsDNS1123Subdomain(strings.ToLower(strings.TrimSuffix(h, "."))); len(errs) > 0 {
			return fmt.Errorf("--api-allowed-hosts: %q is not a host name (%s); give names such as shoal.example.com, without ports", h, errs[0])
		}
	}
	if c.PodEvictionTimeout < time.Second {
		return fmt.Errorf("--pod-eviction-timeout: must be at least 1s")
	}
	if c.EngineCheckInterval < 100*time.Millisecond || c.EngineCheckInterval > time.Minute {
		return fmt.Errorf("--engine-check-interval %s: give a duration from 100ms to 1m, such as 2s (the default)", c.EngineCheckInterval)
	}
	if c.EngineCheckTimeout < 100*time.Millisecond || c.EngineCheckTimeout > time.Minute {
		return fmt.Errorf("--engine-check-timeout %s: give a duration from 100ms to 1m, such as 3s (the default)", c.EngineCheckTimeout)
	}
	if c.MaxClockOffset < 0 || c.MaxClockOffset > time.Hour {
		return fmt.Errorf("--max-clock-offset %s: give a duration from 0s to 1h, such as 500ms (the default); keep the hosts' clocks in sync with NTP", c.MaxClockOffset)
	}
	for _, f := range []struct{ flag, value string }{{"--cluster-cidr", c.ClusterCIDR}, {"--service-cidr", c.ServiceCIDR}} {
		if _, n, err := net.ParseCIDR(f.value); err != nil || n.IP.To4() == nil {
			return fmt.Errorf("%s %q: give an IPv4 network such as 10.96.0.0/16", f.flag, f.value)
		}
	}
	if _, err := podnet.ParseMode(c.PodNetworkBackend); err != nil {
		return fmt.Errorf("--pod-network-backend %w", err)
	}
	if c.WireGuardPort < 1 || c.WireGuardPort > 65535 {
		return fmt.Errorf("--wireguard-port %d: give a UDP port from 1 to 65535, such as 51820 (the default), the same on every host", c.WireGuardPort)
	}
	if c.DNSAddr != "" && c.DNSAddr != "off" {
		if _, err := netip.ParseAddrPort(c.DNSAddr); err != nil {
			return fmt.Errorf("--dns-addr %q: give ip:port such as 10.0.0.5:53, or off", c.DNSAddr)
		}
	}
	for _, u := range c.DNSUpstreams {
		if _, err := netip.ParseAddrPort(u); err != nil {
			if _, err := netip.ParseAddr(u); err != nil {
				return fmt.Errorf("--dns-upstream %q: give ip or ip:port such as 192.0.2.53:53", u)
			}
		}
	}
	if _, cl, _ := net.ParseCIDR(c.ClusterCIDR); cl != nil {
		if ones, _ := cl.Mask.Size(); ones > 23 {
			return fmt.Errorf("--cluster-cidr %q: too small; every node takes a /24, so give /23 or larger (default 10.244.0.0/16)", c.ClusterCIDR)
		}
		if _, sv, _ := net.ParseCIDR(c.ServiceCIDR); sv != nil && (cl.Contains(sv.IP) || sv.Contains(cl.IP)) {
			return fmt.Errorf("--service-cidr %s overlaps --cluster-cidr %s; give two separate ranges", c.ServiceCIDR, c.ClusterCIDR)
		}
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := slog.HandlerOptions{Level: l}
	var newHandler func(io.Writer, *slog.HandlerOptions) slog.Handler
	switch format {
	case "text":
		newHandler = func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	case "json":
		newHandler = func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }
	default:
		return nil, fmt.Errorf("--log-format: %q is not text or json", format)
	}
	if isJournalStream(os.Stderr) {
		return slog.New(newJournalHandler(os.Stderr, newHandler, opts)), nil
	}
	return slog.New(newHandler(os.Stderr, &opts)), nil
}
