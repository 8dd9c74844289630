package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// resolvePod turns POD, pod/NAME, deploy/NAME, rs/NAME, ds/NAME or job/NAME
// into a pod name. For a workload it picks one of its pods as kubectl does,
// and says so on note when there was a choice.
func resolvePod(ctx context.Context, c *client.Client, ns, arg string, note io.Writer) (string, error) {
	kindName, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	k, err := lookupKind(kindName)
	if err != nil {
		return "", err
	}
	if k == api.KindPod {
		return name, nil
	}
	sel, err := workloadSelector(ctx, c, k, ns, name)
	if err != nil {
		return "", err
	}
	pods, _, err := client.ListAs[api.Pod](ctx, c, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("%s/%s has no pods", resourcePrefix(k), name)
	}
	better := betterForLogs
	if k == api.KindJob {
		better = newerAttempt
	}
	sort.SliceStable(pods, func(i, j int) bool { return better(pods[i], pods[j]) })
	if len(pods) > 1 {
		fmt.Fprintf(note, "Found %d pods, using pod/%s\n", len(pods), pods[0].Name)
	}
	return pods[0].Name, nil
}

// workloadSelector reads the pod selector of a Deployment, ReplicaSet,
// DaemonSet or Job.
func workloadSelector(ctx context.Context, c *client.Client, k *api.Kind, ns, name string) (api.Selector, error) {
	obj, err := c.Get(ctx, k, ns, name)
	if err != nil {
		return nil, err
	}
	var ls *api.LabelSelector
	switch w := obj.(type) {
	case *api.Deployment:
		ls = w.Spec.Selector
	case *api.ReplicaSet:
		ls = w.Spec.Selector
	case *api.DaemonSet:
		ls = w.Spec.Selector
	case *api.Job:
		ls = w.Spec.Selector
	default:
		return nil, fmt.Errorf("cannot pick a pod of a %s; name a pod, a deployment, a replicaset, a daemonset or a job", k.Singular)
	}
	if ls == nil {
		return nil, fmt.Errorf("%s/%s has no selector", resourcePrefix(k), name)
	}
	sel, err := ls.AsSelector()
	if err != nil {
		return nil, fmt.Errorf("%s/%s: selector: %w", resourcePrefix(k), name, err)
	}
	return sel, nil
}

// betterForLogs prefers a pod that is not being deleted, then running, then
// ready, then the newest, like kubectl's choice for logs and exec.
func betterForLogs(a, b *api.Pod) bool {
	if (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
		return a.DeletionTimestamp == nil
	}
	if ra, rb := a.Status.Phase == api.PodRunning, b.Status.Phase == api.PodRunning; ra != rb {
		return ra
	}
	if ra, rb := api.IsPodReady(a), api.IsPodReady(b); ra != rb {
		return ra
	}
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return a.Name < b.Name
}

// newerAttempt prefers the newest pod that is not being deleted: the
// latest try of a Job is the one whose log explains how it is doing, even
// once it has finished.
func newerAttempt(a, b *api.Pod) bool {
	if (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
		return a.DeletionTimestamp == nil
	}
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return a.Name > b.Name
}
