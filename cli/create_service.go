package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

type createServiceOptions struct {
	svcType   string
	tcp       []string
	clusterIP string
	nodePort  int32
	dryRun    string
	output    string
}

func newCreateServiceCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "service clusterip|nodeport NAME --tcp=PORT[:TARGET]...",
		Aliases: []string{"svc"},
		Short:   "Create a service that selects the pods labelled app=NAME",
		Long: `Create a Service named NAME, labelled app=NAME and selecting the pods
labelled app=NAME, as kubectl create service does. Each --tcp=PORT[:TARGET]
adds a TCP port named PORT-TARGET; TARGET, a number or a container port
name, defaults to PORT. To make a service for an existing deployment, use
"shoal expose".`,
		Example: `  shoal create service clusterip web --tcp=80:8080
  shoal create service nodeport web --tcp=80:8080 --node-port=30080
  shoal create service clusterip db --clusterip=None`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newCreateServiceTypeCommand(e, api.ServiceTypeClusterIP),
		newCreateServiceTypeCommand(e, api.ServiceTypeNodePort),
	)
	return cmd
}

func newCreateServiceTypeCommand(e *env, svcType string) *cobra.Command {
	o := &createServiceOptions{svcType: svcType}
	use := strings.ToLower(svcType)
	cmd := &cobra.Command{
		Use:   use + " NAME --tcp=PORT[:TARGET]... [--dry-run=client] [-o json|yaml|name]",
		Short: "Create a " + svcType + " service",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "create service %s takes exactly one NAME", use)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreateService(cmd, e, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.tcp, "tcp", nil, "PORT or PORT:TARGET, a TCP port of the service (repeatable)")
	if svcType == api.ServiceTypeNodePort {
		f.Int32Var(&o.nodePort, "node-port", 0, fmt.Sprintf("the node port (%d-%d); default: allocated by the agent", api.NodePortMin, api.NodePortMax))
	} else {
		f.StringVar(&o.clusterIP, "clusterip", "", `the service's virtual IP, or "None" for a headless service`)
	}
	f.StringVar(&o.dryRun, "dry-run", "none", `"client" prints the service without creating it`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.output, "output", "o", "", "json, yaml or name")
	return cmd
}

func runCreateService(cmd *cobra.Command, e *env, o *createServiceOptions, name string) error {
	switch o.output {
	case "", outputJSON, outputYAML, outputName:
	default:
		return usageError(cmd, "-o must be json, yaml or name, not %q", o.output)
	}
	svc, err := o.build(cmd, e.namespace, name)
	if err != nil {
		return err
	}
	var obj api.Object = svc
	suffix := ""
	switch o.dryRun {
	case "client":
		suffix = " (dry run)"
	case "none", "":
		c, err := e.client(cmd)
		if err != nil {
			return err
		}
		if obj, err = c.Create(cmd.Context(), api.KindService, e.namespace, svc); err != nil {
			return err
		}
	default:
		return usageError(cmd, `--dry-run must be "none" or "client", not %q`, o.dryRun)
	}
	out := cmd.OutOrStdout()
	switch o.output {
	case outputJSON, outputYAML:
		return printDocument(out, o.output, obj)
	case outputName:
		return printNames(out, api.KindService, []api.Object{obj})
	}
	_, err = fmt.Fprintf(out, "%s created%s\n", qualifiedName(api.KindService, obj), suffix)
	return err
}

func (o *createServiceOptions) build(cmd *cobra.Command, ns, name string) (*api.Service, error) {
	if len(o.tcp) == 0 && o.clusterIP != api.ClusterIPNone {
		return nil, usageError(cmd, "at least one --tcp port is required, such as --tcp=80:8080")
	}
	if o.nodePort != 0 {
		if o.nodePort < api.NodePortMin || o.nodePort > api.NodePortMax {
			return nil, usageError(cmd, "--node-port %d: must be between %d and %d", o.nodePort, api.NodePortMin, api.NodePortMax)
		}
		if len(o.tcp) > 1 {
			return nil, usageError(cmd, "--node-port can be the node port of one --tcp port only, not %d", len(o.tcp))
		}
	}
	var ports []api.ServicePort
	for _, spec := range o.tcp {
		port, target, err := parseTCPPort(spec)
		if err != nil {
			return nil, usageError(cmd, "--tcp=%s: %v", spec, err)
		}
		ports = append(ports, api.ServicePort{Name: strings.ReplaceAll(spec, ":", "-"), Protocol: "TCP", Port: port,
			TargetPort: target, NodePort: o.nodePort})
	}
	app := map[string]string{"app": name}
	return &api.Service{
		TypeMeta:   api.TypeMeta{Kind: api.KindService.Kind, APIVersion: api.KindService.APIVersion()},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: app},
		Spec:       api.ServiceSpec{Type: o.svcType, Selector: copyMap(app), Ports: ports, ClusterIP: o.clusterIP},
	}, nil
}

// parseTCPPort reads PORT or PORT:TARGET; TARGET is a number or the name
// of a container port.
func parseTCPPort(s string) (int32, api.IntOrString, error) {
	portText, targetText, hasTarget := strings.Cut(s, ":")
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return 0, api.IntOrString{}, fmt.Errorf("the port %q must be a number between 1 and 65535", portText)
	}
	if !hasTarget {
		return int32(port), api.FromInt(int32(port)), nil
	}
	if n, err := strconv.Atoi(targetText); err == nil {
		if n < 1 || n > 65535 {
			return 0, api.IntOrString{}, fmt.Errorf("the target port %d must be between 1 and 65535", n)
		}
		return int32(port), api.FromInt(int32(n)), nil
	}
	if targetText == "" || len(targetText) > 15 || len(api.IsDNS1123Label(targetText)) > 0 {
		return 0, api.IntOrString{}, fmt.Errorf("the target port %q must be a number or a container port name (lower case letters, digits and '-', at most 15 characters)", targetText)
	}
	return int32(port), api.FromString(targetText), nil
}
