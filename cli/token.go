package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

// labelToken marks the bindings `token create` made for a token, so that
// `token revoke` removes them too.
const labelToken = "shoal.io/token"

func newTokenCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
		Long: `Bearer tokens for the API. A token authenticates as the user of its name; the role
given at creation is granted to that user with a ClusterRoleBinding (cluster-wide),
or a RoleBinding in one namespace with -n. Only the token's hash is stored: the token
is printed once, at creation. A revoked token stops working on every agent within
a second or two.`,
	}
	cmd.AddCommand(newTokenCreateCommand(e), newTokenListCommand(e), newTokenRevokeCommand(e))
	return cmd
}

func newTokenCreateCommand(e *env) *cobra.Command {
	var role, description string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME --role view|edit|admin|cluster-admin [-n NAMESPACE] [--ttl 24h]",
		Short: "Create a token and print it",
		Example: `  shoal token create ci --role edit -n staging --ttl 720h
  shoal token create dashboard --role view`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "token create takes exactly one NAME")
			}
			if msgs := api.IsDNS1123Label(args[0]); len(msgs) > 0 {
				return usageError(cmd, "token name %q: %s (the name is the token's user and part of the token)", args[0], msgs[0])
			}
			if role == "" {
				return usageError(cmd, "--role is required: view, edit, admin, cluster-admin or the name of another ClusterRole")
			}
			if ttl < 0 {
				return usageError(cmd, "--ttl must not be negative")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			name := args[0]
			ctx := cmd.Context()
			if _, err := c.Get(ctx, api.KindClusterRole, "", role); err != nil {
				if api.IsNotFound(err) {
					return fmt.Errorf("--role %s: no such ClusterRole (the built-in ones are view, edit, admin and cluster-admin)", role)
				}
				return err
			}
			token, hash, err := api.NewBearerToken(name)
			if err != nil {
				return err
			}
			t := &api.Token{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.TokenSpec{Hash: hash, Description: description}}
			if ttl > 0 {
				exp := api.NewTime(e.now().Add(ttl))
				t.Spec.ExpirationTimestamp = &exp
			}
			created, err := c.Create(ctx, api.KindToken, "", t)
			if err != nil {
				return err
			}
			if err := bindToken(cmd, e, c, created.(*api.Token), role); err != nil {
				// A token without its role is useless: take it back.
				_, _ = c.Delete(ctx, api.KindToken, "", name, api.DeleteOptions{})
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			scope := "cluster-wide"
			if cmd.Flags().Changed("namespace") {
				scope = "in namespace " + e.namespace
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s created with role %s %s; keep it now: only its hash is stored\n", name, role, scope)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "ClusterRole granted to the token: view, edit, admin or cluster-admin (required)")
	f.DurationVar(&ttl, "ttl", 0, "how long the token is valid (default: until revoked)")
	f.StringVar(&description, "description", "", "what the token is for")
	return cmd
}

// bindToken grants the role to the token's user: cluster-wide, or in the
// namespace given with -n.
func bindToken(cmd *cobra.Command, e *env, c *client.Client, t *api.Token, role string) error {
	owner := []api.OwnerReference{{APIVersion: "shoal.io/v1", Kind: "Token", Name: t.Name, UID: t.UID}}
	meta := api.ObjectMeta{Name: "token:" + t.Name, Labels: map[string]string{labelToken: t.Name}, OwnerReferences: owner}
	subjects := []api.Subject{{Kind: api.SubjectUser, APIGroup: api.RBACGroup, Name: t.Name}}
	ref := api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: role}
	if cmd.Flags().Changed("namespace") {
		meta.Namespace = e.namespace
		_, err := c.Create(cmd.Context(), api.KindRoleBinding, e.namespace, &api.RoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: ref})
		return err
	}
	_, err := c.Create(cmd.Context(), api.KindClusterRoleBinding, "", &api.ClusterRoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: ref})
	return err
}

// tokenBindings returns the bindings made for each token: "role" or
// "role (namespace)".
func tokenBindings(cmd *cobra.Command, c *client.Client) (map[string][]string, error) {
	sel, _ := api.ParseSelector(labelToken)
	out := map[string][]string{}
	crbs, _, err := c.List(cmd.Context(), api.KindClusterRoleBinding, "", api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	for _, o := range crbs {
		b := o.(*api.ClusterRoleBinding)
		out[b.Labels[labelToken]] = append(out[b.Labels[labelToken]], b.RoleRef.Name)
	}
	rbs, _, err := c.List(cmd.Context(), api.KindRoleBinding, "", api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	for _, o := range rbs {
		b := o.(*api.RoleBinding)
		out[b.Labels[labelToken]] = append(out[b.Labels[labelToken]], fmt.Sprintf("%s (%s)", b.RoleRef.Name, b.Namespace))
	}
	return out, nil
}

func newTokenListCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tokens: their roles, expiry and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			objs, _, err := c.List(cmd.Context(), api.KindToken, "", api.ListOptions{})
			if err != nil {
				return err
			}
			roles, err := tokenBindings(cmd, c)
			if err != nil {
				return err
			}
			sort.Slice(objs, func(i, j int) bool { return objs[i].GetObjectMeta().Name < objs[j].GetObjectMeta().Name })
			lines := [][]string{{"NAME", "ROLE", "EXPIRES", "AGE", "DESCRIPTION"}}
			now := e.now()
			for _, o := range objs {
				t := o.(*api.Token)
				expires := "never"
				if x := t.Spec.ExpirationTimestamp; x != nil {
					if t.Expired(api.NewTime(now)) {
						expires = "expired"
					} else {
						expires = "in " + shortDuration(x.Sub(now))
					}
				}
				role := strings.Join(roles[t.Name], ", ")
				if t.Name == "admin" && role == "" {
					role = "cluster-admin"
				}
				lines = append(lines, []string{t.Name, printers.OrNone(role), expires, printers.Age(t.CreationTimestamp, now), t.Spec.Description})
			}
			return printTable(cmd.OutOrStdout(), lines)
		},
	}
}

func newTokenRevokeCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME...",
		Short: "Revoke tokens: they stop working on every agent at once",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(cmd, "name the token(s) to revoke")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			var errs errorList
			for _, name := range args {
				if _, err := c.Delete(cmd.Context(), api.KindToken, "", name, api.DeleteOptions{}); err != nil {
					errs = append(errs, err)
					continue
				}
				sel, _ := api.ParseSelector(labelToken + "=" + name)
				if _, err := c.DeleteCollection(cmd.Context(), api.KindClusterRoleBinding, "", sel); err != nil {
					errs = append(errs, err)
				}
				rbs, _, err := c.List(cmd.Context(), api.KindRoleBinding, "", api.ListOptions{LabelSelector: sel})
				if err != nil {
					errs = append(errs, err)
				}
				for _, o := range rbs {
					m := o.GetObjectMeta()
					if _, err := c.Delete(cmd.Context(), api.KindRoleBinding, m.Namespace, m.Name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
						errs = append(errs, err)
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", name)
			}
			return errs.orNil()
		},
	}
}

// shortDuration prints a duration as kubectl prints ages: 5d, 3h, 12m.
func shortDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
