package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
)

func newDiffCommand(e *env) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|-",
		Short: "Show what apply would change, as a unified diff of the live objects and the server's dry run",
		Long: `diff sends every object of the files to the server as a dry run (nothing is
stored) and prints a unified diff between each live object and what the
server would make of it. The exit status is 0 when nothing would change,
1 when something would, and above 1 on an error, as kubectl diff.`,
		Example: `  shoal diff -f web.yaml
  shoal diff -f k8s/ && echo "nothing to apply"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return &codedError{code: 2, err: usageError(cmd, "-f is required: name the files, directories or - (stdin) to compare")}
			}
			return runDiff(cmd, e, files)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "files, directories or - (stdin) holding the objects (required)")
	return cmd
}

func runDiff(cmd *cobra.Command, e *env, files []string) error {
	body, err := readManifests(files, cmd.InOrStdin())
	if err != nil {
		return &codedError{code: 2, err: err}
	}
	docs, err := api.SplitDocuments(bytes.NewReader(body))
	if err != nil {
		return &codedError{code: 2, err: err}
	}
	type item struct {
		kind *api.Kind
		obj  api.Object
	}
	var items []item
	for i, doc := range docs {
		d, err := api.Decode(doc)
		if err != nil {
			return &codedError{code: 2, err: fmt.Errorf("object %d: %w", i+1, err)}
		}
		items = append(items, item{kind: d.Kind, obj: d.Object})
	}
	c, err := e.client(cmd)
	if err != nil {
		return &codedError{code: 2, err: err}
	}
	different := false
	out := cmd.OutOrStdout()
	color := colorOn(out)
	for _, it := range items {
		ns := e.namespace
		if !it.kind.Namespaced {
			ns = ""
		}
		live, merged, err := c.DryRunWrite(cmd.Context(), it.kind, ns, it.obj)
		if err != nil {
			return &codedError{code: 2, err: err}
		}
		a, err := diffText(live)
		if err == nil {
			var b string
			b, err = diffText(merged)
			if err == nil && a != b {
				different = true
				m := merged.GetObjectMeta()
				name := diffName(it.kind, m.Namespace, m.Name)
				text, derr := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
					A: diffLines(a), B: diffLines(b),
					FromFile: "LIVE/" + name, ToFile: "MERGED/" + name, Context: 3})
				if derr != nil {
					return &codedError{code: 2, err: derr}
				}
				text = fmt.Sprintf("diff -u -N LIVE/%s MERGED/%s\n%s", name, name, text)
				if color {
					text = colorDiff(text)
				}
				fmt.Fprint(out, text)
			}
		}
		if err != nil {
			return &codedError{code: 2, err: err}
		}
	}
	if different {
		return &exitError{code: 1}
	}
	return nil
}

// diffName is kubectl's file name of an object in a diff:
// apps.v1.Deployment.default.web.
func diffName(k *api.Kind, ns, name string) string {
	parts := []string{}
	if k.Group != "" {
		parts = append(parts, k.Group)
	}
	parts = append(parts, k.Version, k.Kind)
	if ns != "" {
		parts = append(parts, ns)
	}
	return strings.Join(append(parts, name), ".")
}

// diffText is an object as YAML without what changes on every write and
// says nothing of the change (managedFields, as kubectl leaves out). A
// missing object is empty.
func diffText(obj api.Object) (string, error) {
	if obj == nil {
		return "", nil
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", obj.GetObjectMeta().Name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	if m, ok := doc["metadata"].(map[string]any); ok {
		delete(m, "managedFields")
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	return string(y), nil
}

// diffLines splits text into lines; nothing (a missing object) is no
// line at all, not one empty line.
func diffLines(s string) []string {
	if s == "" {
		return nil
	}
	return difflib.SplitLines(strings.TrimSuffix(s, "\n"))
}
