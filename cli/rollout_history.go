package cli

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

func newRolloutHistoryCommand(e *env) *cobra.Command {
	var rev int64
	cmd := &cobra.Command{
		Use:   "history deploy/NAME... [--revision N]",
		Short: "List the revisions of a Deployment, or show one",
		Long: `List the revisions of a Deployment with their change cause (the
kubernetes.io/change-cause annotation the Deployment had then). With
--revision, show the pod template of that revision.`,
		Example: `  shoal rollout history deploy/web
  shoal rollout history deploy/web --revision 2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rev < 0 {
				return usageError(cmd, "--revision must not be negative")
			}
			return runRolloutHistory(cmd, e, rev, args)
		},
	}
	cmd.Flags().Int64Var(&rev, "revision", 0, "show the pod template of this revision")
	return cmd
}

func runRolloutHistory(cmd *cobra.Command, e *env, rev int64, args []string) error {
	refs, err := workloadRefs(cmd, args, api.KindDeployment)
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	var errs errorList
	for _, ref := range refs {
		if err := printHistory(cmd, e, c, ref, rev); err != nil {
			errs = append(errs, err)
		}
	}
	return errs.orNil()
}

// printHistory writes what kubectl writes: the object's name, then the
// table or the template, then a blank line.
func printHistory(cmd *cobra.Command, e *env, c *client.Client, ref objectRef, rev int64) error {
	ctx := cmd.Context()
	d, err := client.GetAs[api.Deployment](ctx, c, e.namespace, ref.name)
	if err != nil {
		return err
	}
	sets, err := replicaSetsOf(ctx, c, d)
	if err != nil {
		return err
	}
	byRevision := map[int64]*api.ReplicaSet{}
	for _, rs := range sets {
		if r := revision(rs); r > 0 {
			byRevision[r] = rs
		}
	}
	out := cmd.OutOrStdout()
	if rev > 0 {
		rs, ok := byRevision[rev]
		if !ok {
			return fmt.Errorf("unable to find revision %d of %s", rev, rolloutSubject(ref))
		}
		fmt.Fprintf(out, "%s with revision #%d\n", ref, rev)
		return printRevisionTemplate(out, e, rs)
	}
	fmt.Fprintln(out, ref)
	if len(byRevision) == 0 {
		fmt.Fprintln(out, "No rollout history found.")
		return nil
	}
	revs := make([]int64, 0, len(byRevision))
	for r := range byRevision {
		revs = append(revs, r)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, r := range revs {
		fmt.Fprintf(tw, "%d\t%s\n", r, printers.OrNone(oneLine(byRevision[r].Annotations[api.AnnotationChangeCause])))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(out)
	return err
}

// printRevisionTemplate shows a revision's pod template as describe does,
// with its change cause among the template's annotations, as in kubectl.
func printRevisionTemplate(out io.Writer, e *env, rs *api.ReplicaSet) error {
	t := rs.Spec.Template
	if cause := rs.Annotations[api.AnnotationChangeCause]; cause != "" {
		ann := make(map[string]string, len(t.Annotations)+1)
		for k, v := range t.Annotations {
			ann[k] = v
		}
		ann[api.AnnotationChangeCause] = cause
		t.Annotations = ann
	}
	d := &describer{w: tabwriter.NewWriter(out, 0, 8, 2, ' ', 0), now: e.now()}
	d.template(&t)
	if err := d.w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out)
	return err
}
