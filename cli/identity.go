package cli

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

func newJoinTokenCommand(e *env) *cobra.Command {
	var rotate, quiet bool
	cmd := &cobra.Command{
		Use:   "join-token [--rotate]",
		Short: "Print the token that lets a new host's agent join the cluster",
		Long: `Print the join token: it names the cluster's CA (so that the new agent knows it talks
to this cluster) and holds a secret (so that the cluster knows the agent may join).
Start the new host's agent with it:

  shoal agent --join HOST:7481 --join-token TOKEN

--rotate replaces the secret: tokens printed before stop working (agents that joined
keep their place).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			var t *api.JoinTokenInfo
			if rotate {
				t, err = c.RotateJoinToken(cmd.Context())
			} else {
				t, err = c.JoinToken(cmd.Context())
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			if !quiet && rotate {
				fmt.Fprintln(cmd.ErrOrStderr(), "the join secret was rotated: earlier tokens no longer admit agents")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the join secret, invalidating earlier tokens")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the token only")
	return cmd
}

func newKeysCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Rotate the gossip encryption keys",
		Long: `Gossip between agents is encrypted (AES-GCM) with the cluster's keyring. To rotate
the key with no agent losing touch:

  shoal keys install        # a new key, installed on every agent (prints it)
  shoal keys list           # wait until every member has it
  shoal keys use KEY        # encrypt with it (refused until every member has it)
  shoal keys list           # wait until every member encrypts with it
  shoal keys remove OLDKEY  # drop the old key (refused while a member uses it)

Keys are named by their full base64 value or by the fingerprint "keys list" shows.`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the keys and which members have each",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return keyOp(cmd, e, func(c *client.Client) (*api.GossipKeyList, error) { return c.GossipKeys(cmd.Context()) })
			},
		},
		&cobra.Command{
			Use:   "generate",
			Short: "Print a new random key (installs nothing)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				k, err := newGossipKey()
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), k)
				return nil
			},
		},
		&cobra.Command{
			Use:   "install [KEY]",
			Short: "Install a key on every agent (a new one if none is given)",
			Args:  cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				key := ""
				if len(args) == 1 {
					key = args[0]
				} else {
					var err error
					if key, err = newGossipKey(); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "new key: %s\n", key)
				}
				return keyOp(cmd, e, func(c *client.Client) (*api.GossipKeyList, error) { return c.InstallKey(cmd.Context(), key) })
			},
		},
		&cobra.Command{
			Use:   "use KEY|FINGERPRINT",
			Short: "Encrypt gossip with an installed key",
			Args:  exactlyOne("use", "KEY or FINGERPRINT"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return keyOp(cmd, e, func(c *client.Client) (*api.GossipKeyList, error) {
					return c.UseKey(cmd.Context(), keyRequest(args[0]))
				})
			},
		},
		&cobra.Command{
			Use:   "remove KEY|FINGERPRINT",
			Short: "Remove a key no member encrypts with",
			Args:  exactlyOne("remove", "KEY or FINGERPRINT"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return keyOp(cmd, e, func(c *client.Client) (*api.GossipKeyList, error) {
					return c.RemoveKey(cmd.Context(), keyRequest(args[0]))
				})
			},
		},
	)
	return cmd
}

func exactlyOne(verb, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError(cmd, "%s takes exactly one %s", verb, what)
		}
		return nil
	}
}

func keyRequest(s string) api.GossipKeyRequest {
	if len(s) == 44 && strings.HasSuffix(s, "=") {
		return api.GossipKeyRequest{Key: s}
	}
	return api.GossipKeyRequest{ID: s}
}

func newGossipKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func keyOp(cmd *cobra.Command, e *env, op func(*client.Client) (*api.GossipKeyList, error)) error {
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	l, err := op(c)
	if err != nil {
		return err
	}
	return printKeys(cmd.OutOrStdout(), l)
}

func printKeys(w io.Writer, l *api.GossipKeyList) error {
	n := len(l.Members)
	lines := [][]string{{"KEY", "PRIMARY", "INSTALLED", "IN USE"}}
	for _, k := range l.Items {
		primary := ""
		if k.Primary {
			primary = "*"
		}
		lines = append(lines, []string{k.ID, primary, fmt.Sprintf("%d/%d", len(k.InstalledOn), n), fmt.Sprintf("%d/%d", len(k.PrimaryOn), n)})
	}
	return printTable(w, lines)
}

func newCACommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Show and rotate the cluster's certificate authority",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			s, err := c.CA(cmd.Context())
			if err != nil {
				return err
			}
			return printCA(cmd.OutOrStdout(), s)
		},
	}
	var finish, force bool
	var timeout time.Duration
	rotate := &cobra.Command{
		Use:   "rotate [--finish [--force]]",
		Short: "Replace the cluster CA with no downtime",
		Long: `Replace the cluster's CA. A new CA signs from now on; its certificate is cross-signed
by the old one, and agents trust both while every agent moves to a certificate of the
new CA. Once all have, the old CA is no longer trusted. The command waits for that
(--timeout); if interrupted, finish with "shoal ca rotate --finish". Kubeconfig files
that carry the old CA keep working (agents present the cross-signed certificate);
the agents' own admin.kubeconfig files are updated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !finish {
				s, err := c.RotateCA(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "new CA %s (generation %d); waiting for every agent to move to it\n", s.Current, s.Generation)
				deadline := time.Now().Add(timeout)
				for {
					s, err = c.CA(ctx)
					if err != nil {
						return err
					}
					moved := 0
					for _, m := range s.Members {
						if m.CA == s.Current {
							moved++
						}
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "%d/%d agents moved\n", moved, len(s.Members))
					if moved == len(s.Members) {
						break
					}
					if time.Now().After(deadline) {
						return errors.New("not every agent moved to the new CA in time; check `shoal ca`, then run `shoal ca rotate --finish`")
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(time.Second):
					}
				}
			}
			s, err := c.FinishCA(ctx, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "CA rotation finished: only CA %s is trusted\n", s.Current)
			return printCA(cmd.OutOrStdout(), s)
		},
	}
	rotate.Flags().BoolVar(&finish, "finish", false, "finish a rotation: stop trusting the previous CA")
	rotate.Flags().BoolVar(&force, "force", false, "with --finish: finish even if some agent still uses the previous CA (it will have to rejoin)")
	rotate.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the agents to move")
	cmd.AddCommand(rotate)
	return cmd
}

func printCA(w io.Writer, s *api.CAStatus) error {
	state := "stable"
	if s.Rotating {
		state = "rotating"
	}
	fmt.Fprintf(w, "CA:         %s (generation %d, %s)\nTrusted:    %s\n", s.Current, s.Generation, state, strings.Join(s.Trusted, ", "))
	lines := [][]string{{"MEMBER", "CA"}}
	for _, m := range s.Members {
		lines = append(lines, []string{m.Name, printers.OrNone(m.CA)})
	}
	return printTable(w, lines)
}

func newAuthCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "auth", Short: "Inspect what you may do"}
	canI := &cobra.Command{
		Use:   "can-i VERB RESOURCE[/SUBRESOURCE] [NAME]",
		Short: "Check whether you may do something (exit status 0: yes, 1: no)",
		Example: `  shoal auth can-i create deployments -n staging
  shoal auth can-i get secrets
  shoal auth can-i create pods/exec`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return usageError(cmd, "can-i takes VERB RESOURCE [NAME]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			a := &api.ResourceAttributes{Verb: args[0], Namespace: e.namespace}
			res, sub, _ := strings.Cut(args[1], "/")
			if k, ok := api.LookupKind(res); ok {
				a.Group, a.Resource = k.Group, k.Resource
				if !k.Namespaced {
					a.Namespace = ""
				}
			} else {
				a.Resource = res
			}
			a.Subresource = sub
			if len(args) == 3 {
				a.Name = args[2]
			}
			if all, _ := cmd.Flags().GetBool("all-namespaces"); all {
				a.Namespace = ""
			}
			rev, err := c.AccessReview(cmd.Context(), api.AccessRequest{ResourceAttributes: a})
			if err != nil {
				return err
			}
			if rev.Status.Allowed {
				fmt.Fprintln(cmd.OutOrStdout(), "yes")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "no")
			return &exitError{code: 1}
		},
	}
	canI.Flags().BoolP("all-namespaces", "A", false, "ask about every namespace (a cluster-wide grant)")
	whoami := &cobra.Command{
		Use:   "whoami",
		Short: "Print who the API takes you for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			u, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			return printTable(cmd.OutOrStdout(), [][]string{{"ATTRIBUTE", "VALUE"}, {"Username", u.Username},
				{"Groups", "[" + strings.Join(u.Groups, " ") + "]"}})
		},
	}
	cmd.AddCommand(canI, whoami)
	return cmd
}

func newEncryptionCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "encryption",
		Short: "Show and rotate the key that encrypts an agent's stored secrets",
		Long: `Each agent encrypts the sensitive records of its state.db (Secrets, token hashes, the
cluster's keys) with AES-GCM under a key of its own, kept apart from state.db. These
commands act on the agent you talk to (--server); run them against each agent.`,
	}
	show := func(cmd *cobra.Command, s *api.StorageEncryption) {
		line := fmt.Sprintf("%s: storage key %s (created %s)", s.Node, s.Key, s.Created.UTC().Format(time.RFC3339))
		if s.Rewritten > 0 {
			line += fmt.Sprintf(", %d records sealed again", s.Rewritten)
		}
		fmt.Fprintln(cmd.OutOrStdout(), line)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the key in use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			s, err := c.StorageEncryption(cmd.Context())
			if err != nil {
				return err
			}
			show(cmd, s)
			return nil
		},
	}, &cobra.Command{
		Use:   "rotate",
		Short: "Make a new key, seal every sensitive record with it, drop the old one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			s, err := c.RotateStorageKey(cmd.Context())
			if err != nil {
				return err
			}
			show(cmd, s)
			return nil
		},
	})
	return cmd
}
