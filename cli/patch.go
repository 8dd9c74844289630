package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

type patchOptions struct {
	patch, patchFile, typ, subresource, output string
	dryRun                                     string
}

var patchTypes = map[string]string{
	"strategic": client.PatchStrategic,
	"merge":     client.PatchMerge,
	"json":      client.PatchJSON,
}

func newPatchCommand(e *env) *cobra.Command {
	o := &patchOptions{}
	cmd := &cobra.Command{
		Use:   "patch KIND NAME|KIND/NAME (-p PATCH | --patch-file FILE)",
		Short: "Change fields of an object with a strategic merge, JSON merge or JSON patch",
		Example: `  shoal patch deploy/web -p '{"spec":{"replicas":3}}'
  shoal patch pod web-1 --type merge -p 'metadata: {labels: {tier: front}}'
  shoal patch deploy web --type json -p '[{"op":"replace","path":"/spec/replicas","value":2}]'
  shoal patch deploy/web --subresource scale -p '{"spec":{"replicas":4}}'`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPatch(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.patch, "patch", "p", "", "the patch, in JSON or YAML")
	f.StringVar(&o.patchFile, "patch-file", "", "a file holding the patch, in JSON or YAML")
	f.StringVar(&o.typ, "type", "strategic", "the type of patch: strategic, merge (RFC 7386) or json (RFC 6902)")
	f.StringVar(&o.subresource, "subresource", "", "patch this subresource of the object: status or scale")
	f.StringVarP(&o.output, "output", "o", "", "print the patched object: json, yaml or name")
	f.StringVar(&o.dryRun, "dry-run", "none", "server: have the server check the patch without storing it")
	return cmd
}

// readPatch takes the patch from -p or --patch-file and turns YAML into
// the JSON the server reads.
func readPatch(o *patchOptions) ([]byte, error) {
	switch {
	case o.patch != "" && o.patchFile != "":
		return nil, fmt.Errorf("give the patch with -p or --patch-file, not both")
	case o.patch == "" && o.patchFile == "":
		return nil, fmt.Errorf("a patch is required: give it with -p PATCH or --patch-file FILE")
	}
	data := []byte(o.patch)
	if o.patchFile != "" {
		var err error
		if data, err = os.ReadFile(o.patchFile); err != nil {
			return nil, fmt.Errorf("--patch-file: %w", err)
		}
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("the patch is neither JSON nor YAML: %v", err)
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		return nil, fmt.Errorf("the patch is neither JSON nor YAML: %v", err)
	}
	switch v.(type) {
	case map[string]any:
		if o.typ == "json" {
			return nil, fmt.Errorf("a json patch is a list of operations such as [{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2}]; use --type merge or strategic for an object")
		}
	case []any:
		if o.typ != "json" {
			return nil, fmt.Errorf("the patch is a list: a list of operations needs --type json")
		}
	default:
		return nil, fmt.Errorf("the patch must be an object (or, with --type json, a list of operations)")
	}
	return js, nil
}

func runPatch(cmd *cobra.Command, e *env, o *patchOptions, args []string) error {
	contentType, ok := patchTypes[o.typ]
	if !ok {
		return usageError(cmd, "--type %q is not known: use strategic, merge or json", o.typ)
	}
	if o.subresource != "" && o.subresource != "status" && o.subresource != "scale" {
		return usageError(cmd, "--subresource %q is not known: use status or scale", o.subresource)
	}
	if o.dryRun != "none" && o.dryRun != "server" {
		return usageError(cmd, "--dry-run %q is not supported: use server (checked by the server, not stored) or none", o.dryRun)
	}
	if o.output != "" && o.output != outputJSON && o.output != outputYAML && o.output != "name" {
		return usageError(cmd, "--output %q is not supported: use json, yaml or name", o.output)
	}
	body, err := readPatch(o)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	ref, err := singleRef(args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if o.subresource == "scale" && !hasScale(ref.kind) {
		return usageError(cmd, "%s has no scale subresource: only deployments, replicasets, statefulsets and replicationcontrollers scale", ref.kind.Resource)
	}
	if o.subresource == "status" && !ref.kind.HasStatus {
		return usageError(cmd, "%s has no status subresource", ref.kind.Resource)
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	before, err := c.Get(cmd.Context(), ref.kind, e.namespace, ref.name)
	if err != nil {
		return err
	}
	raw, err := c.PatchRaw(cmd.Context(), ref.kind, e.namespace, ref.name, body, client.PatchOptions{
		ContentType: contentType, Subresource: o.subresource, DryRun: o.dryRun == "server"})
	if err != nil {
		return err
	}
	var after struct {
		Metadata api.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &after); err != nil {
		return fmt.Errorf("reading the patched object: %w", err)
	}
	switch o.output {
	case outputJSON, outputYAML:
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("reading the patched object: %w", err)
		}
		return printDocument(cmd.OutOrStdout(), o.output, doc)
	case "name":
		fmt.Fprintln(cmd.OutOrStdout(), ref)
		return nil
	}
	msg := "patched"
	if after.Metadata.ResourceVersion == before.GetObjectMeta().ResourceVersion {
		msg = "patched (no change)"
	}
	if o.dryRun == "server" {
		msg += " (server dry run)"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", ref, msg)
	return nil
}

func hasScale(k *api.Kind) bool {
	return k == api.KindDeployment || k == api.KindReplicaSet || k == api.KindStatefulSet || k == api.KindReplicationController
}

// singleRef reads one object as `KIND NAME` or `KIND/NAME`.
func singleRef(args []string) (objectRef, error) {
	targets, err := parseTargets(args)
	if err != nil {
		return objectRef{}, err
	}
	if len(targets) != 1 || len(targets[0].names) != 1 {
		return objectRef{}, fmt.Errorf("name exactly one object, as KIND NAME or KIND/NAME")
	}
	return objectRef{kind: targets[0].kind, name: targets[0].names[0]}, nil
}
