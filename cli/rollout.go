package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

func newRolloutCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow, list, undo, pause, resume or restart the rollout of a workload",
		Long: `Manage the rollout of a Deployment (deploy/NAME, or deploy NAME): follow it
(status), list its revisions (history), go back to one (undo), hold and
release it (pause, resume), or replace every pod (restart). status and
restart also work on DaemonSets (ds/NAME).`,
		Example: `  shoal rollout status deploy/web
  shoal rollout history deploy/web
  shoal rollout undo deploy/web --to-revision 2
  shoal rollout restart ds/log-agent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newRolloutStatusCommand(e),
		newRolloutHistoryCommand(e),
		newRolloutUndoCommand(e),
		newRolloutPauseCommand(e),
		newRolloutResumeCommand(e),
		newRolloutRestartCommand(e),
	)
	return cmd
}

// objectRef names one object of a kind in the command's namespace.
type objectRef struct {
	kind *api.Kind
	name string
}

func (r objectRef) String() string { return resourcePrefix(r.kind) + "/" + r.name }

// workloadRefs reads deploy/NAME..., or deploy NAME..., and checks that
// every kind is one the verb supports.
func workloadRefs(cmd *cobra.Command, args []string, kinds ...*api.Kind) ([]objectRef, error) {
	targets, err := parseTargets(args)
	if err != nil {
		return nil, usageError(cmd, "%v", err)
	}
	var refs []objectRef
	for _, t := range targets {
		if !kindIn(t.kind, kinds) {
			return nil, usageError(cmd, "%s does not support %s; it works on %s", cmd.CommandPath(), t.kind.Resource, kindList(kinds))
		}
		if len(t.names) == 0 {
			return nil, usageError(cmd, "name the %s, such as %s/web", t.kind.Singular, t.kind.Singular)
		}
		for _, n := range t.names {
			refs = append(refs, objectRef{kind: t.kind, name: n})
		}
	}
	return refs, nil
}

func kindIn(k *api.Kind, kinds []*api.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// kindList is "deployments", "deployments and daemonsets" or
// "deployments, daemonsets and replicasets".
func kindList(kinds []*api.Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Resource
	}
	if n := len(names); n > 1 {
		return strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return strings.Join(names, "")
}

// replicaSetsOf returns the ReplicaSets a Deployment controls, the newest
// revision first.
func replicaSetsOf(ctx context.Context, c *client.Client, d *api.Deployment) ([]*api.ReplicaSet, error) {
	if d.Spec.Selector == nil {
		return nil, nil
	}
	sel, err := d.Spec.Selector.AsSelector()
	if err != nil {
		return nil, nil // an invalid selector owns nothing
	}
	all, _, err := client.ListAs[api.ReplicaSet](ctx, c, d.Namespace, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing the replicasets of deployment %s: %w", d.Name, err)
	}
	var owned []*api.ReplicaSet
	for _, rs := range all {
		if ref := rs.ControllerRef(); ref != nil && ref.UID == d.UID {
			owned = append(owned, rs)
		}
	}
	sort.SliceStable(owned, func(i, j int) bool { return revision(owned[i]) > revision(owned[j]) })
	return owned, nil
}

// revision reads a ReplicaSet's revision annotation; 0 when absent.
func revision(rs *api.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[api.AnnotationRevision], 10, 64)
	return n
}

// withoutHash copies a template without the pod-template-hash label that
// the Deployment controller adds to its ReplicaSets.
func withoutHash(t *api.PodTemplateSpec) (api.PodTemplateSpec, error) {
	var out api.PodTemplateSpec
	data, err := json.Marshal(t)
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		return out, fmt.Errorf("copying a pod template: %w", err)
	}
	delete(out.Labels, api.LabelPodTemplateHash)
	if len(out.Labels) == 0 {
		out.Labels = nil
	}
	return out, nil
}

// sameTemplate compares templates as the Deployment controller does,
// ignoring pod-template-hash.
func sameTemplate(a, b *api.PodTemplateSpec) (bool, error) {
	ca, err := withoutHash(a)
	if err != nil {
		return false, err
	}
	cb, err := withoutHash(b)
	if err != nil {
		return false, err
	}
	ja, errA := json.Marshal(ca)
	jb, errB := json.Marshal(cb)
	if errA != nil || errB != nil {
		return false, fmt.Errorf("comparing pod templates: %w", errors.Join(errA, errB))
	}
	return bytes.Equal(ja, jb), nil
}
