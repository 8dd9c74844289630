package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/printers"
)

type exposeOptions struct {
	port            int32
	targetPort      string
	name            string
	svcType         string
	protocol        string
	nodePort        int32
	selector        string
	labels          string
	clusterIP       string
	sessionAffinity string
	dryRun          string
	output          string

	// Parsed by check from --selector and --labels; nil when not given.
	selectorMap, labelsMap map[string]string
}

// exposable are the kinds expose finds a pod selector in, as in kubectl.
var exposable = []*api.Kind{api.KindDeployment, api.KindReplicaSet, api.KindPod, api.KindService}

func newExposeCommand(e *env) *cobra.Command {
	o := &exposeOptions{}
	cmd := &cobra.Command{
		Use:   "expose deploy/NAME | rs/NAME | pod/NAME | svc/NAME [--port P] [--target-port T] [--type ClusterIP|NodePort]",
		Short: "Make a Service for the pods of a deployment, replicaset, pod or service",
		Long: `Create a Service that selects the pods of an object, as kubectl expose does:
the selector is the deployment's or replicaset's matchLabels, the pod's labels
or the service's selector; the service takes the object's name and labels
unless --name and --labels say otherwise.

Without --port, the service gets the container ports of the object's pods
(the ports of a service), named port-1, port-2... when there are several.
--target-port is the port (number or container port name) the pods listen
on; it defaults to the service port. --node-port, which kubectl does not
have, picks the node port of a NodePort service instead of leaving it to
the agent.`,
		Example: `  shoal expose deploy/web --port 80 --target-port 8080
  shoal expose deploy web --port 80 --type NodePort --node-port 30080
  shoal expose pod/db-0 --port 5432 --name db
  shoal expose deploy/dns --port 53 --protocol UDP --dry-run=client -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExpose(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.Int32Var(&o.port, "port", 0, "the port the service serves on (default: the object's container ports)")
	f.StringVar(&o.targetPort, "target-port", "", "the port number or name the pods listen on (default: --port)")
	f.StringVar(&o.name, "name", "", "the service's name (default: the object's)")
	f.StringVar(&o.svcType, "type", "", "ClusterIP (the default) or NodePort")
	f.StringVar(&o.protocol, "protocol", "", "TCP or UDP (default: the container port's, else TCP)")
	f.Int32Var(&o.nodePort, "node-port", 0, fmt.Sprintf("the node port (%d-%d) of a NodePort service; implies --type NodePort", api.NodePortMin, api.NodePortMax))
	f.StringVar(&o.selector, "selector", "", "the pods to select, k=v,k2=v2 (default: the object's)")
	f.StringVarP(&o.labels, "labels", "l", "", "the service's labels, k=v,k2=v2 (default: the object's)")
	f.StringVar(&o.clusterIP, "cluster-ip", "", `the service's virtual IP, or "None" for a headless service (default: allocated)`)
	f.StringVar(&o.sessionAffinity, "session-affinity", "", "None or ClientIP: send a client to the same pod every time")
	f.StringVar(&o.dryRun, "dry-run", "none", `"client" prints the service without creating it`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.output, "output", "o", "", "json, yaml or name")
	return cmd
}

func runExpose(cmd *cobra.Command, e *env, o *exposeOptions, args []string) error {
	ref, err := exposeTarget(cmd, args)
	if err != nil {
		return err
	}
	if err := o.check(cmd); err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	obj, err := c.Get(cmd.Context(), ref.kind, e.namespace, ref.name)
	if err != nil {
		return err
	}
	svc, err := buildService(cmd, e, o, obj)
	if err != nil {
		return err
	}
	suffix := " (dry run)"
	var out api.Object = svc
	if o.dryRun != "client" {
		suffix = ""
		if out, err = c.Create(cmd.Context(), api.KindService, e.namespace, svc); err != nil {
			return err
		}
	}
	switch o.output {
	case outputJSON, outputYAML:
		return printDocument(cmd.OutOrStdout(), o.output, out)
	case outputName:
		return printNames(cmd.OutOrStdout(), api.KindService, []api.Object{out})
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s exposed%s\n", qualifiedName(api.KindService, out), suffix)
	return err
}

// exposeTarget reads the one object to expose: KIND/NAME or KIND NAME.
func exposeTarget(cmd *cobra.Command, args []string) (objectRef, error) {
	if len(args) == 0 {
		return objectRef{}, usageError(cmd, "name the object to expose, such as deploy/web")
	}
	targets, err := parseTargets(args)
	if err != nil {
		return objectRef{}, usageError(cmd, "%v", err)
	}
	if len(targets) != 1 || len(targets[0].names) != 1 {
		return objectRef{}, usageError(cmd, "expose takes exactly one object, such as deploy/web")
	}
	t := targets[0]
	if !kindIn(t.kind, exposable) {
		// kubectl names the kind with its group: DaemonSet.apps, Job.batch.
		gk := t.kind.Kind
		if t.kind.Group != "" {
			gk += "." + t.kind.Group
		}
		return objectRef{}, fmt.Errorf("cannot expose a %s; expose works on %s", gk, kindList(exposable))
	}
	return objectRef{kind: t.kind, name: t.names[0]}, nil
}

// check refuses flag values the server would refuse too, with the flag's
// name in the message, and settles the type --node-port implies.
func (o *exposeOptions) check(cmd *cobra.Command) error {
	switch o.output {
	case "", outputJSON, outputYAML, outputName:
	default:
		return usageError(cmd, "-o must be json, yaml or name, not %q", o.output)
	}
	switch o.dryRun {
	case "none", "", "client":
	default:
		return usageError(cmd, `--dry-run must be "none" or "client", not %q`, o.dryRun)
	}
	if cmd.Flags().Changed("port") && (o.port < 1 || o.port > 65535) {
		return usageError(cmd, "--port %d: must be between 1 and 65535", o.port)
	}
	switch strings.ToLower(o.svcType) {
	case "":
	case "clusterip":
		o.svcType = api.ServiceTypeClusterIP
	case "nodeport":
		o.svcType = api.ServiceTypeNodePort
	default:
		return usageError(cmd, "--type must be ClusterIP or NodePort, not %q (shoal has no load balancers; a NodePort service is reachable on every node)", o.svcType)
	}
	switch strings.ToUpper(o.protocol) {
	case "":
	case "TCP", "UDP":
		o.protocol = strings.ToUpper(o.protocol)
	default:
		return usageError(cmd, "--protocol must be TCP or UDP, not %q", o.protocol)
	}
	if cmd.Flags().Changed("node-port") {
		if o.nodePort < api.NodePortMin || o.nodePort > api.NodePortMax {
			return usageError(cmd, "--node-port %d: must be between %d and %d", o.nodePort, api.NodePortMin, api.NodePortMax)
		}
		if o.svcType == api.ServiceTypeClusterIP {
			return usageError(cmd, "--node-port needs --type NodePort, not ClusterIP")
		}
		o.svcType = api.ServiceTypeNodePort
	}
	var err error
	if o.selector != "" {
		if o.selectorMap, err = parseLabels(o.selector); err != nil {
			return usageError(cmd, "--selector: %v", err)
		}
	}
	if o.labels != "" {
		if o.labelsMap, err = parseLabels(o.labels); err != nil {
			return usageError(cmd, "--labels: %v", err)
		}
	}
	return nil
}

// buildService makes the Service for obj as kubectl expose does.
func buildService(cmd *cobra.Command, e *env, o *exposeOptions, obj api.Object) (*api.Service, error) {
	m := obj.GetObjectMeta()
	selector := o.selectorMap
	if len(selector) == 0 {
		var err error
		if selector, err = podSelectorOf(obj); err != nil {
			return nil, err
		}
	}
	labels := m.Labels
	if o.labelsMap != nil {
		labels = o.labelsMap
	}
	name := o.name
	if name == "" {
		name = m.Name
	}
	ports, err := o.servicePorts(cmd, obj)
	if err != nil {
		return nil, err
	}
	return &api.Service{
		TypeMeta:   api.TypeMeta{Kind: api.KindService.Kind, APIVersion: api.KindService.APIVersion()},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: e.namespace, Labels: labels},
		Spec: api.ServiceSpec{Type: o.svcType, Selector: selector, Ports: ports, ClusterIP: o.clusterIP,
			SessionAffinity: o.sessionAffinity},
	}, nil
}

// podSelectorOf is the selector of the pods behind obj, as a map: services
// select by equality only, so a workload selecting by expression cannot be
// exposed. The messages are kubectl's.
func podSelectorOf(obj api.Object) (map[string]string, error) {
	var ls *api.LabelSelector
	var what string
	switch w := obj.(type) {
	case *api.Pod:
		if len(w.Labels) == 0 {
			return nil, fmt.Errorf("the pod has no labels and cannot be exposed")
		}
		return copyMap(w.Labels), nil
	case *api.Service:
		if len(w.Spec.Selector) == 0 {
			return nil, fmt.Errorf("the service has no pod selector set")
		}
		return copyMap(w.Spec.Selector), nil
	case *api.Deployment:
		ls, what = w.Spec.Selector, "deployment"
	case *api.ReplicaSet:
		ls, what = w.Spec.Selector, "replicaset"
	default:
		return nil, fmt.Errorf("cannot expose a %T", obj)
	}
	if ls == nil || len(ls.MatchLabels) == 0 {
		return nil, fmt.Errorf("invalid %s: no selectors, therefore cannot be exposed", what)
	}
	if len(ls.MatchExpressions) > 0 {
		return nil, fmt.Errorf("couldn't convert expressions - \"%+v\" to map-based selector format", ls.MatchExpressions)
	}
	return copyMap(ls.MatchLabels), nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// objectPort is one port the exposed object serves, with every protocol
// it serves it on, and the port its pods listen on.
type objectPort struct {
	port       int32
	protocols  []string
	targetPort api.IntOrString
}

// servicePorts builds the ports as kubectl expose does: --port, else every
// port of the object, named port-1, port-2... when there are several, and
// port-1-tcp, port-1-udp for a port served on two protocols. Each takes
// --protocol, else the protocol the object uses on that port.
func (o *exposeOptions) servicePorts(cmd *cobra.Command, obj api.Object) ([]api.ServicePort, error) {
	found := portsOf(obj)
	wanted := found
	if o.port != 0 {
		p := objectPort{port: o.port, protocols: []string{"TCP"}, targetPort: api.FromInt(o.port)}
		for _, f := range found {
			if f.port == o.port {
				p.protocols, p.targetPort = f.protocols, f.targetPort
			}
		}
		wanted = []objectPort{p}
	}
	if len(wanted) == 0 {
		if o.clusterIP == api.ClusterIPNone {
			return nil, nil // a headless service may have no ports
		}
		return nil, usageError(cmd, "couldn't find port via --port flag or introspection; give --port")
	}
	var target *api.IntOrString
	if o.targetPort != "" {
		t := api.FromString(o.targetPort)
		if n, err := strconv.Atoi(o.targetPort); err == nil {
			t = api.FromInt(int32(n))
		}
		target = &t
	}
	var out []api.ServicePort
	for i, p := range wanted {
		name := ""
		if len(wanted) > 1 {
			name = fmt.Sprintf("port-%d", i+1)
		}
		tp := p.targetPort
		if target != nil {
			tp = *target
		}
		protocols := p.protocols
		if o.protocol != "" {
			protocols = []string{o.protocol}
		}
		for _, proto := range protocols {
			sp := api.ServicePort{Name: name, Protocol: proto, Port: p.port, TargetPort: tp}
			if len(protocols) > 1 {
				sp.Name = fmt.Sprintf("port-%d-%s", i+1, strings.ToLower(proto))
			}
			out = append(out, sp)
		}
	}
	if o.nodePort != 0 {
		if len(out) != 1 {
			return nil, usageError(cmd, "--node-port sets the node port of one service port, but this service has %d; give --port", len(out))
		}
		out[0].NodePort = o.nodePort
	}
	return out, nil
}

// portsOf lists the ports obj serves, in order, each number once: the
// container ports of its pods, or a service's own ports. The pods of a
// service listen on its target ports, which are kept.
func portsOf(obj api.Object) []objectPort {
	var out []objectPort
	add := func(port int32, proto string, target api.IntOrString) {
		proto = printers.Protocol(proto)
		for i := range out {
			if out[i].port != port {
				continue
			}
			for _, p := range out[i].protocols {
				if p == proto {
					return
				}
			}
			out[i].protocols = append(out[i].protocols, proto)
			return
		}
		out = append(out, objectPort{port: port, protocols: []string{proto}, targetPort: target})
	}
	if s, ok := obj.(*api.Service); ok {
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target == (api.IntOrString{}) {
				target = api.FromInt(p.Port)
			}
			add(p.Port, p.Protocol, target)
		}
		return out
	}
	var spec *api.PodSpec
	switch w := obj.(type) {
	case *api.Pod:
		spec = &w.Spec
	default:
		if t := podTemplateOf(obj); t != nil {
			spec = &t.Spec
		}
	}
	if spec == nil {
		return nil
	}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			add(p.ContainerPort, p.Protocol, api.FromInt(p.ContainerPort))
		}
	}
	return out
}
