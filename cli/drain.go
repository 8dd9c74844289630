package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// What drain says about the pods it refuses or treats specially, in
// kubectl's words, so that habits and scripts carry over.
const (
	daemonSetFatal      = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
	daemonSetWarning    = "ignoring DaemonSet-managed Pods"
	localStorageFatal   = "Pods with local storage (use --delete-emptydir-data to override)"
	localStorageWarning = "deleting Pods with local storage"
	unmanagedFatal      = "cannot delete Pods that declare no controller (use --force to override)"
	unmanagedWarning    = "deleting Pods that declare no controller"
)

// errDrainTimeout: the pods were not gone within --timeout.
var errDrainTimeout = errors.New("drain did not complete")

type drainOptions struct {
	ignoreDaemonSets   bool
	deleteEmptyDirData bool
	force              bool
	gracePeriod        int
	timeout            time.Duration
}

func newDrainCommand(e *env) *cobra.Command {
	o := &drainOptions{}
	cmd := &cobra.Command{
		Use:   "drain NODE...",
		Short: "Cordon nodes and move their pods elsewhere, for maintenance",
		Long: `Prepare nodes for maintenance: cordon them, so that no new pod lands there,
then delete every pod bound to them and wait until the pods are gone. The
pods' controllers (Deployments, ReplicaSets, Jobs) start replacements on other
nodes. Use "shoal uncordon" when the node may take pods again.

As kubectl drain, it refuses, and deletes nothing, when the node holds:
  - pods of a DaemonSet, which would come back at once: --ignore-daemonsets
    leaves them running;
  - pods no controller owns, which nothing would replace: --force deletes them;
  - pods with emptyDir volumes, whose data would be lost: --delete-emptydir-data.

The pods stop gracefully, as with "shoal delete", and their node's agent
removes them; drain waits for that up to --timeout and fails after it.`,
		Example: `  shoal drain h2 --ignore-daemonsets
  shoal drain h2 --ignore-daemonsets --delete-emptydir-data --force --timeout 10m
  shoal uncordon h2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(cmd, "name the nodes to drain, such as 'shoal drain h2'")
			}
			if o.timeout < 0 {
				return usageError(cmd, "--timeout must not be negative")
			}
			return runDrain(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreDaemonSets, "ignore-daemonsets", false, "leave DaemonSet-managed pods running instead of refusing")
	f.BoolVar(&o.deleteEmptyDirData, "delete-emptydir-data", false, "delete pods with emptyDir volumes, losing their data")
	f.BoolVar(&o.force, "force", false, "delete pods that no controller owns, which nothing replaces")
	f.IntVar(&o.gracePeriod, "grace-period", -1, "seconds each pod gets to stop; -1 uses the pod's own")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long (0: wait as long as it takes)")
	return cmd
}

func runDrain(cmd *cobra.Command, e *env, o *drainOptions, nodes []string) error {
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ctx, out, errOut := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	// A mistyped name must change nothing, so all nodes are looked up first.
	for _, name := range nodes {
		if _, err := c.Get(ctx, api.KindNode, "", name); err != nil {
			return err
		}
	}
	for _, name := range nodes {
		if err := cordonNode(ctx, c, out, name, true); err != nil {
			return err
		}
	}
	var fatal errorList
	var pending []string
	for _, name := range nodes {
		err := o.drainNode(ctx, c, out, errOut, name)
		if err == nil {
			fmt.Fprintf(out, "node/%s drained\n", name)
			continue
		}
		if ctx.Err() != nil {
			return err // interrupted: the user knows
		}
		fmt.Fprintf(errOut, "error: unable to drain node %q due to error: %s, continuing command...\n", name, aggregate(err))
		var list errorList
		if errors.As(err, &list) {
			fatal = append(fatal, list...)
		} else {
			fatal = append(fatal, err)
		}
		pending = append(pending, name)
	}
	if len(pending) > 0 {
		fmt.Fprintln(errOut, "There are pending nodes to be drained:")
		for _, name := range pending {
			fmt.Fprintf(errOut, " %s\n", name)
		}
	}
	return fatal.orNil()
}

// aggregate writes several errors as kubectl's aggregate does: [a, b].
func aggregate(err error) string {
	var list errorList
	if !errors.As(err, &list) || len(list) < 2 {
		return err.Error()
	}
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = e.Error()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// drainNode deletes the pods of one (cordoned) node and waits until they
// are gone. When any pod is refused, nothing is deleted.
func (o *drainOptions) drainNode(ctx context.Context, c *client.Client, out, errOut io.Writer, node string) error {
	all, _, err := client.ListAs[api.Pod](ctx, c, "", api.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the pods of node %s: %w", node, err)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	var plan drainPlan
	for _, p := range all {
		if p.Spec.NodeName != node {
			continue
		}
		v, err := o.judge(ctx, c, p)
		if err != nil {
			return err
		}
		plan.add(p, v)
	}
	if refused := plan.refusals(); len(refused) > 0 {
		return refused
	}
	if w := plan.warnings(); w != "" {
		fmt.Fprintf(errOut, "WARNING: %s\n", w)
	}
	left, err := o.evict(ctx, c, out, plan.victims)
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("%w within %v", errDrainTimeout, o.timeout)
	}
	if ctx.Err() == nil && len(left) > 0 {
		fmt.Fprintf(errOut, "There are pending pods in node %q when an error occurred: %v\n", node, err)
		for _, p := range left {
			fmt.Fprintf(errOut, "pod/%s\n", p.Name)
		}
	}
	return err
}

// verdict is what drain does with one pod and why.
type verdict struct {
	evict  bool
	refuse bool
	check  int    // which check spoke (0 DaemonSet, 1 local storage, 2 controller): messages are grouped in this order
	msg    string // the refusal, or a warning; empty when all is well
}

// judge runs kubectl's checks on a pod in kubectl's order; the first that
// refuses or skips the pod decides. A pod that has finished may always go.
func (o *drainOptions) judge(ctx context.Context, c *client.Client, p *api.Pod) (verdict, error) {
	v := verdict{evict: true}
	if api.IsPodTerminal(p) {
		return v, nil
	}
	ref := p.ControllerRef()
	if ref != nil && ref.Kind == api.KindDaemonSet.Kind {
		_, err := c.Get(ctx, api.KindDaemonSet, p.Namespace, ref.Name)
		switch {
		case api.IsNotFound(err) && o.force:
			// An orphan: no DaemonSet will bring it back.
			v = verdict{evict: true, msg: err.Error()}
		case api.IsNotFound(err):
			return verdict{refuse: true, msg: err.Error()}, nil
		case err != nil:
			return verdict{}, fmt.Errorf("reading the DaemonSet of pod %s/%s: %w", p.Namespace, p.Name, err)
		case !o.ignoreDaemonSets:
			return verdict{refuse: true, msg: daemonSetFatal}, nil
		default:
			return verdict{msg: daemonSetWarning}, nil
		}
	}
	if hasEmptyDir(p) {
		if !o.deleteEmptyDirData {
			return verdict{refuse: true, check: 1, msg: localStorageFatal}, nil
		}
		v = verdict{evict: true, check: 1, msg: localStorageWarning}
	}
	if ref == nil {
		if !o.force {
			return verdict{refuse: true, check: 2, msg: unmanagedFatal}, nil
		}
		v = verdict{evict: true, check: 2, msg: unmanagedWarning}
	}
	// kubectl keeps only the last check's word and so drops the local
	// storage warning of a pod that has a controller; it is kept here.
	return v, nil
}

func hasEmptyDir(p *api.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil {
			return true
		}
	}
	return false
}

// drainPlan collects the verdicts on a node's pods.
type drainPlan struct {
	victims         []*api.Pod
	refused, warned []*podGroup
}

// podGroup is the pods (namespace/name) one message is about.
type podGroup struct {
	check int
	msg   string
	pods  []string
}

func (pl *drainPlan) add(p *api.Pod, v verdict) {
	if v.evict {
		pl.victims = append(pl.victims, p)
	}
	groups := &pl.warned
	if v.refuse {
		groups = &pl.refused
	} else if v.msg == "" {
		return
	}
	pod := p.Namespace + "/" + p.Name
	for _, g := range *groups {
		if g.msg == v.msg {
			g.pods = append(g.pods, pod)
			return
		}
	}
	*groups = append(*groups, &podGroup{check: v.check, msg: v.msg, pods: []string{pod}})
}

func sortGroups(gs []*podGroup) {
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].check < gs[j].check })
}

// refusals are the errors that stop the drain, one per reason.
func (pl *drainPlan) refusals() errorList {
	sortGroups(pl.refused)
	var errs errorList
	for _, g := range pl.refused {
		errs = append(errs, &podsRefusedError{reason: g.msg, pods: g.pods})
	}
	return errs
}

// warnings is kubectl's WARNING line: "reason: pods; reason: pods".
func (pl *drainPlan) warnings() string {
	sortGroups(pl.warned)
	parts := make([]string, len(pl.warned))
	for i, g := range pl.warned {
		parts[i] = g.msg + ": " + strings.Join(g.pods, ", ")
	}
	return strings.Join(parts, "; ")
}

// podsRefusedError names the pods drain will not delete for one reason.
type podsRefusedError struct {
	reason string
	pods   []string // namespace/name
}

func (e *podsRefusedError) Error() string {
	msg := e.reason
	if !strings.HasPrefix(strings.ToLower(msg), "cannot delete") {
		msg = "cannot delete " + msg
	}
	return msg + ": " + strings.Join(e.pods, ", ")
}

// evict deletes the pods, then waits until each is gone, printing kubectl's
// lines. It returns the pods not known to be gone when it stopped.
func (o *drainOptions) evict(ctx context.Context, c *client.Client, out io.Writer, pods []*api.Pod) ([]*api.Pod, error) {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var grace *int64
	if o.gracePeriod >= 0 {
		grace = api.Int64(int64(o.gracePeriod))
	}
	for _, p := range pods {
		if err := evictOne(ctx, c, out, p, grace); err != nil {
			return pods, err // those evicted before may still be stopping
		}
	}
	return waitEvicted(ctx, c, out, pods)
}

// evictOne evicts a pod through the pods/eviction subresource, so that its
// PodDisruptionBudget is honoured: while the budget allows no disruption,
// it says so and tries again every 5 s, as kubectl drain does, until the
// drain's timeout.
func evictOne(ctx context.Context, c *client.Client, out io.Writer, p *api.Pod, grace *int64) error {
	fmt.Fprintf(out, "evicting pod %s/%s\n", p.Namespace, p.Name)
	for {
		// The uid makes sure a new pod that took the name is left alone.
		err := c.Evict(ctx, p.Namespace, p.Name, p.UID, grace)
		// NotFound and Conflict (another uid now) both mean this pod is gone.
		if err == nil || api.IsNotFound(err) || api.IsConflict(err) {
			return nil
		}
		if !api.IsTooManyRequests(err) {
			return err
		}
		fmt.Fprintf(out, "error when evicting pods/%q -n %q (will retry after 5s): %v\n", p.Name, p.Namespace, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("evicting pod %s/%s: %w", p.Namespace, p.Name, ctx.Err())
		case <-time.After(5 * time.Second):
		}
	}
}

// waitEvicted polls until none of the pods exists any more (a pod of the
// same name with another uid is another pod), and prints each one as it
// goes.
func waitEvicted(ctx context.Context, c *client.Client, out io.Writer, pods []*api.Pod) ([]*api.Pod, error) {
	key := func(p *api.Pod) string {
		if p.UID != "" {
			return p.UID
		}
		return p.Namespace + "/" + p.Name
	}
	// On a terminal a live line says what is still stopping; kubectl's
	// lines are printed above it (and alone, to a file or pipe).
	line := newLiveLine(out)
	stop := line.animate(ctx)
	defer line.clear()
	defer stop()
	delay := 100 * time.Millisecond
	for {
		// One list a round, not a read per pod: a node may hold many.
		all, _, err := client.ListAs[api.Pod](ctx, c, "", api.ListOptions{})
		if err != nil {
			return pods, err
		}
		present := map[string]bool{}
		for _, p := range all {
			present[key(p)] = true
		}
		var left []*api.Pod
		var gone []string
		for _, p := range pods {
			if present[key(p)] {
				left = append(left, p)
			} else {
				gone = append(gone, fmt.Sprintf("pod/%s evicted", p.Name))
			}
		}
		if len(gone) > 0 {
			line.clear() // the count it shows is stale now
			for _, g := range gone {
				line.above(g)
			}
		}
		if pods = left; len(pods) == 0 {
			return nil, nil
		}
		if line.tty {
			line.update(fmt.Sprintf("waiting for %d pod(s) to stop: %s", len(pods), podNames(pods)))
		}
		select {
		case <-ctx.Done():
			return pods, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// podNames lists a few pods by name, for a progress line.
func podNames(pods []*api.Pod) string {
	names := make([]string, 0, 3)
	for i, p := range pods {
		if i == 3 {
			return strings.Join(names, ", ") + fmt.Sprintf(" and %d more", len(pods)-3)
		}
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}
