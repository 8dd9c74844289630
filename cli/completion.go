package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

// completionTimeout bounds the API calls of a completion: a shell waiting
// on a Tab key must not hang on an agent that does not answer.
const completionTimeout = 5 * time.Second

// kindNameVerbs are the commands whose arguments are KIND NAME or
// KIND/NAME: their completion offers the kinds, then the names the server
// has.
var kindNameVerbs = map[string]bool{
	"get": true, "describe": true, "delete": true, "edit": true, "patch": true,
	"label": true, "annotate": true, "wait": true, "scale": true,
}

// podVerbs take a pod first.
var podVerbs = map[string]bool{"logs": true, "exec": true, "port-forward": true}

// addCompletions gives the verbs of root their completion of kinds and
// names, and -n its completion of namespaces. Shell scripts come from
// cobra's `completion bash|zsh|fish`; they ask `shoal __complete ...`,
// which lands here.
func addCompletions(e *env, root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("namespace", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeNames(cmd, e, api.KindNamespace, toComplete, "")
	})
	for _, c := range root.Commands() {
		if c.ValidArgsFunction != nil {
			continue
		}
		switch {
		case kindNameVerbs[c.Name()]:
			c.ValidArgsFunction = completeKindsAndNames(e)
		case podVerbs[c.Name()]:
			c.ValidArgsFunction = completePods(e)
		}
	}
}

// completeKindsAndNames completes `VERB KIND NAME...` and `VERB KIND/NAME...`.
func completeKindsAndNames(e *env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		slashForm := strings.Contains(toComplete, "/") || (len(args) > 0 && strings.Contains(args[0], "/"))
		if kind, prefix, ok := strings.Cut(toComplete, "/"); ok {
			k, found := api.LookupKind(kind)
			if !found {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeNames(cmd, e, k, prefix, kind+"/")
		}
		if len(args) == 0 || slashForm {
			return kindNames(toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		k, found := api.LookupKind(strings.Split(args[0], ",")[0])
		if !found {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, dir := completeNames(cmd, e, k, toComplete, "")
		return without(names, args[1:]), dir
	}
}

// completePods completes the first argument with the pods of the namespace.
func completePods(e *env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if kind, prefix, ok := strings.Cut(toComplete, "/"); ok {
			k, found := api.LookupKind(kind)
			if !found {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeNames(cmd, e, k, prefix, kind+"/")
		}
		return completeNames(cmd, e, api.KindPod, toComplete, "")
	}
}

// kindNames are the resource names a user may type, plural first.
func kindNames(prefix string) []string {
	var out []string
	for _, k := range api.Kinds {
		for _, n := range append([]string{k.Resource}, k.ShortNames...) {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
	}
	return out
}

// completeNames asks the server for the names of kind k that start with
// prefix, each written after before (such as "pod/").
func completeNames(cmd *cobra.Command, e *env, k *api.Kind, prefix, before string) ([]string, cobra.ShellCompDirective) {
	c, err := e.client(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	objs, _, err := c.List(ctx, k, e.namespace, api.ListOptions{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var out []string
	for _, o := range objs {
		if n := o.GetObjectMeta().Name; strings.HasPrefix(n, prefix) {
			out = append(out, before+n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func without(names, taken []string) []string {
	skip := map[string]bool{}
	for _, t := range taken {
		skip[t] = true
	}
	var out []string
	for _, n := range names {
		if !skip[n] {
			out = append(out, n)
		}
	}
	return out
}
