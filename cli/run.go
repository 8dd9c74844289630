package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

type runOptions struct {
	image    string
	replicas int32
	env      []string
	port     int32
	labels   string
	command  bool
	dryRun   string
	output   string
}

func newRunCommand(e *env) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run NAME --image IMAGE [--replicas N] [--env K=V]... [--port P] [--labels k=v,...] [-- ARGS...]",
		Short: "Run an image as a Deployment",
		Long: `Create a Deployment named NAME that runs IMAGE, labelled app=NAME.

Note: shoal's run makes a Deployment, as kubectl run did before Kubernetes 1.18
(today's kubectl run makes a single Pod). The arguments after "--" are the
container's args, or its command with --command.`,
		Example: `  shoal run web --image nginx:1.27 --replicas 3 --port 80
  shoal run worker --image busybox -- sh -c 'while true; do date; sleep 5; done'
  shoal run web --image nginx --dry-run=client -o yaml > web.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "the container image (required)")
	f.Int32Var(&o.replicas, "replicas", 1, "number of pods")
	f.StringArrayVar(&o.env, "env", nil, "environment variable K=V (repeatable)")
	f.Int32Var(&o.port, "port", 0, "the port the container listens on")
	f.StringVarP(&o.labels, "labels", "l", "", "more labels k=v,k2=v2 for the deployment and its pods")
	f.BoolVar(&o.command, "command", false, "the arguments after -- are the command, not args")
	f.StringVar(&o.dryRun, "dry-run", "none", `"client" prints the Deployment without creating it`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.output, "output", "o", "", "with --dry-run=client: json, yaml or name")
	return cmd
}

func runRun(cmd *cobra.Command, e *env, o *runOptions, args []string) error {
	d, err := buildDeployment(cmd, e, o, args)
	if err != nil {
		return err
	}
	switch o.dryRun {
	case "client":
		return printRunResult(cmd, o, d)
	case "none", "":
	default:
		return usageError(cmd, `--dry-run must be "none" or "client", not %q`, o.dryRun)
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	obj, err := c.Create(cmd.Context(), api.KindDeployment, e.namespace, d)
	if err != nil {
		return err
	}
	if o.output != "" {
		return printRunResult(cmd, o, obj)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s created\n", qualifiedName(api.KindDeployment, obj))
	return nil
}

func printRunResult(cmd *cobra.Command, o *runOptions, obj api.Object) error {
	switch o.output {
	case outputJSON, outputYAML:
		return printDocument(cmd.OutOrStdout(), o.output, obj)
	case outputName:
		return printNames(cmd.OutOrStdout(), api.KindDeployment, []api.Object{obj})
	case "":
		fmt.Fprintf(cmd.OutOrStdout(), "%s created (dry run)\n", qualifiedName(api.KindDeployment, obj))
		return nil
	}
	return usageError(cmd, "-o must be json, yaml or name, not %q", o.output)
}

func buildDeployment(cmd *cobra.Command, e *env, o *runOptions, args []string) (*api.Deployment, error) {
	name, extra, err := splitRunArgs(cmd, args)
	if err != nil {
		return nil, err
	}
	if o.image == "" {
		return nil, usageError(cmd, "--image is required")
	}
	if o.replicas < 0 {
		return nil, usageError(cmd, "--replicas must not be negative")
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		return nil, usageError(cmd, "--labels: %v", err)
	}
	labels["app"] = name
	ctr, err := runContainer(name, o, extra)
	if err != nil {
		return nil, usageError(cmd, "%v", err)
	}
	return &api.Deployment{
		TypeMeta:   api.TypeMeta{Kind: "Deployment", APIVersion: "apps/v1"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: e.namespace, Labels: labels},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(o.replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{ctr}},
			},
		},
	}, nil
}

// splitRunArgs reads NAME [-- ARGS...].
func splitRunArgs(cmd *cobra.Command, args []string) (string, []string, error) {
	dash := cmd.ArgsLenAtDash()
	if len(args) == 0 || dash == 0 {
		return "", nil, usageError(cmd, "NAME is required for run")
	}
	if dash > 1 || (dash < 0 && len(args) > 1) {
		return "", nil, usageError(cmd, "run takes one NAME; put the container's arguments after \"--\"")
	}
	return args[0], args[1:], nil
}

func runContainer(name string, o *runOptions, extra []string) (api.Container, error) {
	ctr := api.Container{Name: name, Image: o.image}
	if o.command {
		ctr.Command = extra
	} else {
		ctr.Args = extra
	}
	for _, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return ctr, fmt.Errorf("--env %q: expected K=V", kv)
		}
		ctr.Env = append(ctr.Env, api.EnvVar{Name: k, Value: v})
	}
	if o.port < 0 || o.port > 65535 {
		return ctr, fmt.Errorf("--port %d: must be between 1 and 65535", o.port)
	}
	if o.port > 0 {
		ctr.Ports = []api.ContainerPort{{ContainerPort: o.port}}
	}
	return ctr, nil
}

// parseLabels reads k=v,k2=v2.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: expected key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
