package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

func newPortForwardCommand(e *env) *cobra.Command {
	var addresses []string
	cmd := &cobra.Command{
		Use:   "port-forward pod/NAME|svc/NAME|deploy/NAME [LOCAL:]REMOTE...",
		Short: "Forward local ports to ports of a pod, until interrupted",
		Long: `port-forward listens on local ports and forwards each connection, through the
agent's API, to a port of a pod. A Service or workload forwards to one of
its running pods, and a Service's port is translated to its targetPort.
LOCAL 0 or an empty LOCAL (":80") picks a free local port.`,
		Example: `  shoal port-forward pod/web-1 8080:80
  shoal port-forward svc/web 8080:80
  shoal port-forward deploy/api :9000 --address 0.0.0.0`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPortForward(cmd, e, args[0], args[1:], addresses)
		},
	}
	cmd.Flags().StringSliceVar(&addresses, "address", []string{"localhost"}, "local addresses to listen on (localhost is 127.0.0.1 and ::1)")
	return cmd
}

// forwardPort is one LOCAL:REMOTE argument; remote may be a port's name.
type forwardPort struct {
	local  uint16
	remote string
}

func parseForwardPorts(args []string) ([]forwardPort, error) {
	var out []forwardPort
	for _, a := range args {
		local, remote, found := strings.Cut(a, ":")
		if !found {
			local, remote = a, a
		}
		if remote == "" {
			return nil, fmt.Errorf("port %q: give the pod's port after the colon, as 8080:80", a)
		}
		fp := forwardPort{remote: remote}
		if local != "" {
			n, err := strconv.ParseUint(local, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("port %q: the local port %q is not a number from 0 to 65535", a, local)
			}
			fp.local = uint16(n)
		}
		if n, err := strconv.ParseUint(remote, 10, 16); err == nil && n == 0 {
			return nil, fmt.Errorf("port %q: the pod's port must be from 1 to 65535", a)
		} else if err != nil && len(api.IsDNS1123Label(remote)) > 0 {
			return nil, fmt.Errorf("port %q: the pod's port %q is neither a number from 1 to 65535 nor a port name", a, remote)
		}
		out = append(out, fp)
	}
	return out, nil
}

func runPortForward(cmd *cobra.Command, e *env, target string, portArgs, addresses []string) error {
	ports, err := parseForwardPorts(portArgs)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if !strings.Contains(target, "/") {
		target = "pod/" + target
	}
	kindName, name, _ := strings.Cut(target, "/")
	k, err := lookupKind(kindName)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if name == "" {
		return usageError(cmd, "name the pod, service or workload to forward to, such as pod/web-1 or svc/web")
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	pod, err := forwardTarget(ctx, c, k, e.namespace, name, ports)
	if err != nil {
		return err
	}
	if pod.Status.Phase != api.PodRunning {
		return fmt.Errorf("unable to forward port because pod is not running. Current status=%s", pod.Status.Phase)
	}
	specs := make([]string, len(ports))
	for i, p := range ports {
		remote, err := containerPort(pod, p.remote)
		if err != nil {
			return err
		}
		specs[i] = fmt.Sprintf("%d:%d", p.local, remote)
	}
	dialer, err := e.portForwardDialer(cmd, api.KindPod.ObjectPath(e.namespace, pod.Name)+"/portforward")
	if err != nil {
		return err
	}
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, addresses, specs, make(chan struct{}), cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	err = fw.ForwardPorts()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// forwardTarget finds the pod of pod/NAME, or a running pod of a
// Service or workload; for a Service, the ports asked for are the
// Service's and become its target ports.
func forwardTarget(ctx context.Context, c *client.Client, k *api.Kind, ns, name string, ports []forwardPort) (*api.Pod, error) {
	if k == api.KindPod {
		return client.GetAs[api.Pod](ctx, c, ns, name)
	}
	var sel api.Selector
	if k == api.KindService {
		svc, err := client.GetAs[api.Service](ctx, c, ns, name)
		if err != nil {
			return nil, err
		}
		if len(svc.Spec.Selector) == 0 {
			return nil, fmt.Errorf("service/%s has no selector: it forwards to no pod", name)
		}
		sel = api.SelectorFromSet(svc.Spec.Selector)
		if err := toTargetPorts(svc, ports); err != nil {
			return nil, err
		}
	} else {
		var err error
		if sel, err = workloadSelector(ctx, c, k, ns, name); err != nil {
			return nil, err
		}
	}
	pods, _, err := client.ListAs[api.Pod](ctx, c, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	var running []*api.Pod
	for _, p := range pods {
		if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
			running = append(running, p)
		}
	}
	if len(running) == 0 {
		return nil, fmt.Errorf("%s/%s has no running pod to forward to", resourcePrefix(k), name)
	}
	sort.SliceStable(running, func(i, j int) bool { return betterForLogs(running[i], running[j]) })
	return running[0], nil
}

// toTargetPorts turns the Service's port numbers into its target ports.
func toTargetPorts(svc *api.Service, ports []forwardPort) error {
	for i, p := range ports {
		var found *api.ServicePort
		for j := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[j]
			if strconv.Itoa(int(sp.Port)) == p.remote || sp.Name == p.remote {
				found = sp
				break
			}
		}
		if found == nil {
			return fmt.Errorf("service/%s does not have a service port %s", svc.Name, p.remote)
		}
		switch {
		case found.TargetPort.IsString:
			ports[i].remote = found.TargetPort.StrVal
		case found.TargetPort.IntVal != 0:
			ports[i].remote = strconv.Itoa(int(found.TargetPort.IntVal))
		default:
			ports[i].remote = strconv.Itoa(int(found.Port))
		}
	}
	return nil
}

// containerPort is a port number, or the number of a named port of one
// of the pod's containers.
func containerPort(pod *api.Pod, port string) (uint16, error) {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		return uint16(n), nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port {
				return uint16(p.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("pod/%s has no container port named %q", pod.Name, port)
}

// portForwardDialer connects to the agent's port-forward endpoint with the
// credentials of every other request.
func (e *env) portForwardDialer(cmd *cobra.Command, path string) (httpstream.Dialer, error) {
	conn, err := e.connection()
	if err != nil {
		return nil, err
	}
	cfg := &rest.Config{
		BearerToken: conn.Token,
		UserAgent:   "shoal/" + Version,
		TLSClientConfig: rest.TLSClientConfig{Insecure: conn.Insecure, ServerName: conn.ServerName,
			CAData: conn.CAData, CertData: conn.CertPEM, KeyData: conn.KeyPEM},
	}
	server := conn.Server
	if sock, ok := strings.CutPrefix(server, "unix://"); ok {
		server = "http://unix"
		cfg.Dial = unixDialer(sock)
	} else if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	cfg.Host = server
	u, err := url.Parse(strings.TrimSuffix(server, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", conn.Server, err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("preparing the port-forward connection: %w", err)
	}
	plain := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	if cfg.Dial != nil {
		return plain, nil // a unix socket: the SPDY upgrade dials it itself
	}
	// As kubectl 1.31 and later: SPDY tunnelled through a websocket, which
	// passes proxies that drop other upgrades, then a plain SPDY upgrade.
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, fmt.Errorf("preparing the port-forward connection: %w", err)
	}
	return portforward.NewFallbackDialer(tunnel, plain, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

func unixDialer(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}
