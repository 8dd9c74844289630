package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

func newComposeImagesCommand(e *env, o *composeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images [SERVICE...]",
		Short: "List the images the project's services run, and the hosts that run them",
		Long: `List, for each service, the image its workload names and, from its pods, the
image each running container was made from (its id), the hosts whose
engines run it and the hosts whose engines hold it (as the nodes report their
images). A service whose pods run two images (a rollout under way) has
a row for each.`,
		Example: `  shoal compose images
  shoal compose -p shop images web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			return printComposeImages(cmd, c, ns, args)
		},
	}
	return cmd
}

// serviceImageRow is one image of one service.
type serviceImageRow struct {
	service, image, id string
	hosts              map[string]bool
}

func printComposeImages(cmd *cobra.Command, c *client.Client, ns string, only []string) error {
	ctx := cmd.Context()
	if exists, err := composeNamespaceExists(ctx, c, ns); err != nil {
		return err
	} else if !exists {
		return fmt.Errorf("compose: project %s is not on the cluster", ns)
	}
	rows, err := serviceImages(ctx, c, ns)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range only {
		want[compose.ServiceObjectName(s)] = true
	}
	// The hosts whose engines hold each image, as the nodes report it: those
	// that can run a new pod of it without a copy.
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	lines := [][]string{{"SERVICE", "IMAGE", "IMAGE ID", "HOSTS", "HELD BY"}}
	for _, r := range rows {
		if len(want) > 0 && !want[compose.ServiceObjectName(r.service)] {
			continue
		}
		found[compose.ServiceObjectName(r.service)] = true
		hosts := make([]string, 0, len(r.hosts))
		for h := range r.hosts {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts)
		id, hostList := shortID(r.id), strings.Join(hosts, ",")
		if id == "" {
			id = "<none>"
		}
		if hostList == "" {
			hostList = "<none running>"
		}
		held := heldBy(nodes, r)
		if held == "" {
			held = "<none>"
		}
		lines = append(lines, []string{r.service, r.image, id, hostList, held})
	}
	for s := range want {
		if !found[s] {
			return fmt.Errorf("compose images: no such service in project %s: %q", ns, s)
		}
	}
	return printTable(cmd.OutOrStdout(), lines)
}

// heldBy lists the nodes whose engines report r's image: by its id when a
// container showed it, else by the name the workload gives.
func heldBy(nodes []*api.Node, r *serviceImageRow) string {
	ref := r.id
	if !api.IsImageID(ref) {
		ref = r.image
	}
	var out []string
	for _, n := range nodes {
		for _, img := range n.Status.Images {
			if img.Has(ref) {
				out = append(out, n.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// serviceImages reads each workload's image and what its running pods'
// containers run, sorted by service and image.
func serviceImages(ctx context.Context, c *client.Client, ns string) ([]*serviceImageRow, error) {
	sel := api.SelectorFromSet(map[string]string{compose.LabelProject: ns})
	rows := map[string]*serviceImageRow{} // service|image|id
	add := func(service, image, id, host string) {
		key := service + "|" + image + "|" + id
		r := rows[key]
		if r == nil {
			r = &serviceImageRow{service: service, image: image, id: id, hosts: map[string]bool{}}
			rows[key] = r
		}
		if host != "" {
			r.hosts[host] = true
		}
	}
	names := map[string]string{} // object name of a service -> its compose name
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob} {
		objs, _, err := c.List(ctx, k, ns, api.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("compose images: list %s: %w", k.Resource, err)
		}
		for _, o := range objs {
			names[compose.ServiceOf(o)] = compose.ServiceName(o)
		}
	}
	pods, _, err := client.ListAs[api.Pod](ctx, c, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("compose images: list pods: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range pods {
		svc := names[compose.ServiceOf(p)]
		if svc == "" {
			svc = compose.ServiceOf(p)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running == nil {
				continue
			}
			image := cs.Image
			for _, ct := range p.Spec.Containers {
				if ct.Name == cs.Name {
					image = ct.Image
				}
			}
			add(svc, image, cs.ImageID, p.Spec.NodeName)
			seen[compose.ServiceOf(p)] = true
		}
	}
	// A service with no running container still has a row: its image.
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob} {
		objs, _, err := c.List(ctx, k, ns, api.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("compose images: list %s: %w", k.Resource, err)
		}
		for _, o := range objs {
			if t := templateOfAny(o); t != nil && !seen[compose.ServiceOf(o)] && len(t.Spec.Containers) > 0 {
				add(compose.ServiceName(o), t.Spec.Containers[0].Image, "", "")
			}
		}
	}
	out := make([]*serviceImageRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].service != out[j].service {
			return out[i].service < out[j].service
		}
		return out[i].image+out[i].id < out[j].image+out[j].id
	})
	return out, nil
}

// templateOfAny is the pod template of a Deployment, DaemonSet or Job.
func templateOfAny(o api.Object) *api.PodTemplateSpec {
	if j, ok := o.(*api.Job); ok {
		return &j.Spec.Template
	}
	return templateOf(o)
}
