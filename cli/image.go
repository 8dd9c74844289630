package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

func newImageCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "See and spread the images the hosts' engines hold",
		Long: `Every agent reports the images its engine holds in its Node's status.images
(the 50 largest). When a pod lands on a host that lacks its image, the agent
copies it from a host that has it, with no registry; see docs/images.md.`,
	}
	cmd.AddCommand(newImageListCommand(e), newImagePushCommand(e))
	return cmd
}

// imageRow is one image and the nodes that hold it: the -o json/yaml item
// of "shoal image ls".
type imageRow struct {
	ID        string   `json:"id"`
	Names     []string `json:"names"`
	SizeBytes int64    `json:"sizeBytes"`
	Nodes     []string `json:"nodes"`
}

type imageRowList struct {
	Kind  string     `json:"kind"`
	Items []imageRow `json:"items"`
}

func newImageListCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls [IMAGE]",
		Aliases: []string{"list"},
		Short:   "List which hosts hold which images",
		Long: `List the images the nodes report, one line per image (by image ID) with the
nodes that hold it. With IMAGE, only that image (a name such as app:1, or an
image ID). Each node reports its 50 largest images; smaller ones beyond those
are not listed.`,
		Example: `  shoal image ls
  shoal image ls web:1 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputTable && output != outputJSON && output != outputYAML {
				return usageError(cmd, "unable to match a printer suitable for the output format %q, allowed formats are: json,yaml", output)
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			nodes, err := listNodes(cmd.Context(), c)
			if err != nil {
				return err
			}
			rows := imageRows(nodes)
			if len(args) == 1 {
				rows = slices.DeleteFunc(rows, func(r imageRow) bool {
					return !(api.ContainerImage{Names: append([]string{r.ID}, r.Names...)}).Has(args[0])
				})
			}
			if output != outputTable {
				return printDocument(cmd.OutOrStdout(), output, imageRowList{Kind: "List", Items: rows})
			}
			if len(rows) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No images found")
				return nil
			}
			return printImageRows(cmd.OutOrStdout(), rows)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func listNodes(ctx context.Context, c *client.Client) ([]*api.Node, error) {
	objs, _, err := c.List(ctx, api.KindNode, "", api.ListOptions{})
	if err != nil {
		return nil, err
	}
	nodes := make([]*api.Node, 0, len(objs))
	for _, o := range objs {
		if n, ok := o.(*api.Node); ok {
			nodes = append(nodes, n)
		}
	}
	slices.SortFunc(nodes, func(a, b *api.Node) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}

// imageRows groups the nodes' images by image ID: the names are the union
// of what the nodes call it, tags first; the rows are sorted by name.
func imageRows(nodes []*api.Node) []imageRow {
	byID := map[string]*imageRow{}
	for _, n := range nodes {
		for _, img := range n.Status.Images {
			id := img.ImageID()
			if id == "" {
				continue
			}
			r := byID[id]
			if r == nil {
				r = &imageRow{ID: id, SizeBytes: img.SizeBytes}
				byID[id] = r
			}
			for _, name := range img.Names {
				if name != id && !slices.Contains(r.Names, name) {
					r.Names = append(r.Names, name)
				}
			}
			if !slices.Contains(r.Nodes, n.Name) {
				r.Nodes = append(r.Nodes, n.Name)
			}
		}
	}
	rows := make([]imageRow, 0, len(byID))
	for _, r := range byID {
		// Tags before digests: they are what people type.
		slices.SortStableFunc(r.Names, func(a, b string) int {
			return boolInt(strings.Contains(a, "@")) - boolInt(strings.Contains(b, "@"))
		})
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b imageRow) int {
		if c := strings.Compare(rowName(a), rowName(b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return rows
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rowName is what the IMAGE column shows: the first tag, or <none>.
func rowName(r imageRow) string {
	for _, n := range r.Names {
		if !strings.Contains(n, "@") {
			return n
		}
	}
	return "<none>"
}

// printImageRows writes IMAGE ID SIZE NODES.
func printImageRows(w io.Writer, rows []imageRow) error {
	lines := [][]string{{"IMAGE", "ID", "SIZE", "NODES"}}
	for _, r := range rows {
		id := strings.TrimPrefix(r.ID, "sha256:")
		if len(id) > 12 {
			id = id[:12]
		}
		lines = append(lines, []string{rowName(r), id, printers.HumanBytes(r.SizeBytes), strings.Join(r.Nodes, ",")})
	}
	return printTable(w, lines)
}

// maxParallelPlacements bounds the nodes asked at once by push-to-hosts.
const maxParallelPlacements = 4

func newImagePushCommand(e *env) *cobra.Command {
	var nodesFlag []string
	cmd := &cobra.Command{
		Use:   "push-to-hosts IMAGE",
		Short: "Copy an image to hosts ahead of time, from a host that holds it",
		Long: `Copy IMAGE to the engines of other hosts before pods need it: each target's
agent fetches it from a host that reports it (streamed docker save and load
between the agents, checked against the image ID; no registry). Without
--nodes, every ready node that does not report the image is a target. A node
that holds it already is left as it is.`,
		Example: `  shoal image push-to-hosts web:1
  shoal image push-to-hosts web:1 --nodes h2,h3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			image := args[0]
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			nodes, err := listNodes(cmd.Context(), c)
			if err != nil {
				return err
			}
			targets, err := placementTargets(nodes, image, nodesFlag)
			if err != nil {
				return usageError(cmd, "%v", err)
			}
			if len(targets) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "every ready node holds %s already\n", image)
				return nil
			}
			return placeImage(cmd.Context(), c, cmd.OutOrStdout(), image, targets)
		},
	}
	cmd.Flags().StringSliceVar(&nodesFlag, "nodes", nil, "the nodes to copy the image to, comma-separated (default: every ready node that lacks it)")
	return cmd
}

// placementTargets picks the nodes to ask: those named (each must exist),
// else the ready nodes that do not report the image. Some node must
// report it.
func placementTargets(nodes []*api.Node, image string, named []string) ([]string, error) {
	held := false
	for _, n := range nodes {
		for _, img := range n.Status.Images {
			held = held || img.Has(image)
		}
	}
	if !held {
		return nil, fmt.Errorf("no node reports image %q: build or load it on one host first (shoal image ls lists what the hosts hold)", image)
	}
	if len(named) > 0 {
		var out []string
		for _, name := range named {
			if !slices.ContainsFunc(nodes, func(n *api.Node) bool { return n.Name == name }) {
				return nil, fmt.Errorf("--nodes: no node is named %q", name)
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		return out, nil
	}
	var out []string
	for _, n := range nodes {
		if !nodeReady(n) || slices.ContainsFunc(n.Status.Images, func(img api.ContainerImage) bool { return img.Has(image) }) {
			continue
		}
		out = append(out, n.Name)
	}
	return out, nil
}

func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// placeImage asks each target's agent for the image, a few at once, and
// prints one line per node as each finishes.
func placeImage(ctx context.Context, c *client.Client, out io.Writer, image string, targets []string) error {
	var (
		mu   sync.Mutex
		errs errorList
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, maxParallelPlacements)
	for _, node := range targets {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			res, err := c.PlaceImage(ctx, node, image)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", node, err))
				fmt.Fprintf(out, "%s: failed: %v\n", node, err)
				return
			}
			if res.Source == "present" {
				fmt.Fprintf(out, "%s: %s already present\n", node, image)
				return
			}
			fmt.Fprintf(out, "%s: %s copied from %s (%s in %.1fs)\n", node, image, res.Source, printers.HumanBytes(res.Bytes), res.Seconds)
		})
	}
	wg.Wait()
	return errs.orNil()
}
