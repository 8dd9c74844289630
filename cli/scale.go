package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

func newScaleCommand(e *env) *cobra.Command {
	var replicas int32
	cmd := &cobra.Command{
		Use:   "scale deploy/NAME|rs/NAME... --replicas N | scale KIND NAME... --replicas N",
		Short: "Set the number of pods of a Deployment or ReplicaSet",
		Example: `  shoal scale deploy/web --replicas 5
  shoal scale deploy web api --replicas 0`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return usageError(cmd, "--replicas is required")
			}
			if replicas < 0 {
				return usageError(cmd, "--replicas must not be negative")
			}
			return runScale(cmd, e, replicas, args)
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "the new number of pods (required)")
	return cmd
}

func runScale(cmd *cobra.Command, e *env, replicas int32, args []string) error {
	targets, err := parseTargets(args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	for _, t := range targets {
		if t.kind != api.KindDeployment && t.kind != api.KindReplicaSet && t.kind != api.KindStatefulSet && t.kind != api.KindReplicationController {
			return usageError(cmd, "cannot scale %s: only deployments, replicasets, statefulsets and replicationcontrollers scale", t.kind.Resource)
		}
		if len(t.names) == 0 {
			return usageError(cmd, "name the %s to scale, such as deploy/web", t.kind.Resource)
		}
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	var errs errorList
	for _, t := range targets {
		for _, name := range t.names {
			_, err := c.UpdateScale(cmd.Context(), t.kind, e.namespace, name, &api.Scale{Spec: api.ScaleSpec{Replicas: replicas}})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s scaled\n", resourcePrefix(t.kind), name)
		}
	}
	return errs.orNil()
}
