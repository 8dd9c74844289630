package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// editHeader opens every file edit writes, as kubectl's.
const editHeader = `# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
`

func newEditCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "edit KIND NAME|KIND/NAME",
		Short: "Edit an object in $KUBE_EDITOR, $EDITOR or vi and store it when saved",
		Long: `edit opens the object as YAML in an editor: $KUBE_EDITOR, else $EDITOR, else vi.
When the editor exits, the changed object is stored. If the server refuses
it, the file opens again with the reasons at the top; saving it unchanged
gives up. An empty file, or one left as it was, cancels the edit.`,
		Example: `  shoal edit deploy/web
  KUBE_EDITOR="nano" shoal edit svc web
  shoal edit cm/settings -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputYAML && output != outputJSON {
				return usageError(cmd, "--output %q is not supported: edit in yaml or json", output)
			}
			ref, err := singleRef(args)
			if err != nil {
				return usageError(cmd, "%v", err)
			}
			return runEdit(cmd, e, ref, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputYAML, "the format to edit in: yaml or json")
	return cmd
}

func runEdit(cmd *cobra.Command, e *env, ref objectRef, format string) error {
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	obj, err := c.Get(cmd.Context(), ref.kind, e.namespace, ref.name)
	if err != nil {
		return err
	}
	original, err := editText(obj, format)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shoal-edit-")
	if err != nil {
		return fmt.Errorf("making a file to edit: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, strings.ReplaceAll(resourcePrefix(ref.kind)+"-"+ref.name, "/", "-")+"."+format)

	content := editHeader + original
	var lastFailed string // the body the server last refused
	for {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", file, err)
		}
		if err := runEditor(cmd, file); err != nil {
			return err
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading the edited file: %w", err)
		}
		body := stripComments(string(data))
		switch {
		case strings.TrimSpace(body) == "":
			fmt.Fprintln(cmd.ErrOrStderr(), "Edit cancelled, saved file was empty.")
			return nil
		case body == stripComments(original):
			fmt.Fprintln(cmd.ErrOrStderr(), "Edit cancelled, no changes made.")
			return nil
		case lastFailed != "" && body == lastFailed:
			return fmt.Errorf("edit cancelled, no valid changes were saved%s", keepCopy(body, format))
		}
		saveErr := saveEdited(cmd, c, ref, e.namespace, obj, body)
		if saveErr == nil {
			fmt.Fprintf(cmd.OutOrStdout(), "%s edited\n", ref)
			return nil
		}
		if cmd.Context().Err() != nil {
			return saveErr
		}
		// Open again with the reasons on top and the user's text kept.
		lastFailed = body
		content = editHeader + errorComment(ref, saveErr) + body
	}
}

// editText is the object as the user edits it, without managedFields.
func editText(obj api.Object, format string) (string, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	if m, ok := doc["metadata"].(map[string]any); ok {
		delete(m, "managedFields")
	}
	if format == outputJSON {
		out, err := json.MarshalIndent(doc, "", "    ")
		return string(out) + "\n", err
	}
	out, err := yaml.Marshal(doc)
	return string(out), err
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// errorComment is the block kubectl puts on a reopened file.
func errorComment(ref objectRef, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %q was not valid:\n", ref.kind.Resource, ref.name)
	var se *api.StatusError
	if errors.As(err, &se) && se.ErrStatus.Details != nil && len(se.ErrStatus.Details.Causes) > 0 {
		for _, c := range se.ErrStatus.Details.Causes {
			fmt.Fprintf(&b, "# * %s: %s\n", c.Field, oneLine(c.Message))
		}
	} else {
		fmt.Fprintf(&b, "# * %s\n", oneLine(err.Error()))
	}
	b.WriteString("#\n")
	return b.String()
}

// saveEdited decodes the edited text and stores it as a replace at the
// resourceVersion it was read at: a change someone made meanwhile is a
// conflict, shown in the reopened file, never overwritten.
func saveEdited(cmd *cobra.Command, c *client.Client, ref objectRef, ns string, orig api.Object, body string) error {
	js, err := yaml.YAMLToJSON([]byte(body))
	if err != nil {
		return fmt.Errorf("the file is not valid YAML or JSON: %v", err)
	}
	d, err := api.Decode(js)
	if err != nil {
		return err
	}
	if d.Kind != ref.kind {
		return fmt.Errorf("kind may not change: the object is a %s, the file holds a %s", ref.kind.Kind, d.Kind.Kind)
	}
	m := d.Object.GetObjectMeta()
	if m.Name != ref.name || (m.Namespace != "" && m.Namespace != orig.GetObjectMeta().Namespace) {
		return fmt.Errorf("metadata.name and metadata.namespace may not change: edit %s only", ref)
	}
	_, err = c.Update(cmd.Context(), ref.kind, ns, d.Object)
	return err
}

// runEditor runs the user's editor on file, attached to the terminal when
// there is one. The editor setting may carry arguments ("code --wait").
func runEditor(cmd *cobra.Command, file string) error {
	editor := os.Getenv("KUBE_EDITOR")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	ed := exec.CommandContext(cmd.Context(), "sh", "-c", editor+` "$1"`, "editor", file)
	ed.Stdin = cmd.InOrStdin()
	if f, ok := ed.Stdin.(*os.File); ok {
		ed.Stdin = f
	}
	ed.Stdout, ed.Stderr = editorOutput(cmd.OutOrStdout()), editorOutput(cmd.ErrOrStderr())
	if err := ed.Run(); err != nil {
		return fmt.Errorf("the editor %q failed: %w (set KUBE_EDITOR or EDITOR to the editor to use)", editor, err)
	}
	return nil
}

// editorOutput keeps a terminal a terminal for the editor.
func editorOutput(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return w
}

// keepCopy saves the refused text where the user can take it up again.
func keepCopy(body, format string) string {
	f, err := os.CreateTemp("", "shoal-edit-*."+format)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		return ""
	}
	return "; a copy of your changes is in " + f.Name()
}
