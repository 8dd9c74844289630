package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

type applyOptions struct {
	files  []string
	strict bool
}

func newApplyCommand(e *env) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from YAML or JSON files",
		Long: `Create or update every object in the given files, in one request: if any
object is invalid, nothing is changed. A directory applies its .yaml, .yml and
.json files in name order; "-" reads standard input. Files may hold several
documents separated by "---" lines. Fields shoal does not know are reported as
warnings, or refused with --strict.`,
		Example: `  shoal apply -f web.yaml
  shoal apply -f manifests/
  cat web.yaml | shoal apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd, e, o)
		},
	}
	cmd.Flags().StringSliceVarP(&o.files, "filename", "f", nil, "file, directory or - for standard input (repeatable)")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "refuse objects with fields shoal does not know")
	return cmd
}

func runApply(cmd *cobra.Command, e *env, o *applyOptions) error {
	if len(o.files) == 0 {
		return usageError(cmd, "must specify -f, a file, a directory or - for standard input")
	}
	body, err := readManifests(o.files, cmd.InOrStdin())
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	res, err := c.Apply(cmd.Context(), e.namespace, body, o.strict)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	for _, it := range res.Items {
		for _, w := range it.Warnings {
			e.warnings.print(w)
		}
		fmt.Fprintf(out, "%s/%s %s\n", prefixForKind(it.Kind, it.APIVersion), it.Name, it.Action)
	}
	return nil
}

// readManifests joins every document of the given files into one body,
// checking locally that each file parses so that an error names the file.
func readManifests(paths []string, stdin io.Reader) ([]byte, error) {
	var parts [][]byte
	objects := 0
	for _, p := range paths {
		files, err := expandPath(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := readFile(f, stdin)
			if err != nil {
				return nil, err
			}
			docs, err := api.SplitDocuments(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", displayName(f), err)
			}
			if len(docs) > 0 {
				objects += len(docs)
				parts = append(parts, bytes.TrimRight(data, "\n"))
			}
		}
	}
	if objects == 0 {
		return nil, errors.New("no objects passed to apply")
	}
	return append(bytes.Join(parts, []byte("\n---\n")), '\n'), nil
}

// expandPath turns a directory into its manifest files in name order.
func expandPath(p string) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("the path %q does not exist", p)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("reading the directory %s: %w", p, err)
	}
	var files []string
	for _, en := range entries {
		switch strings.ToLower(filepath.Ext(en.Name())) {
		case ".yaml", ".yml", ".json":
			if !en.IsDir() {
				files = append(files, filepath.Join(p, en.Name()))
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

func readFile(p string, stdin io.Reader) ([]byte, error) {
	if p == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return data, nil
}

func displayName(p string) string {
	if p == "-" {
		return "standard input"
	}
	return p
}
