package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api/client"
)

// env is what every command shares: the global flags and the clock.
type env struct {
	server, token, namespace string
	kubeconfig, context      string
	caFile                   string
	insecure                 bool
	namespaceSet             bool
	now                      func() time.Time
	warnings                 *warningPrinter // of the last client made, shared with apply's own warnings
}

// client builds an API client from the kubeconfig and the global flags;
// warnings go to stderr. A namespace the kubeconfig's context names is the
// default of -n.
func (e *env) client(cmd *cobra.Command) (*client.Client, error) {
	e.warnings = newWarningPrinter(cmd.ErrOrStderr())
	conn, err := e.connection()
	if err != nil {
		return nil, err
	}
	if f := cmd.Flags().Lookup("namespace"); (f == nil || !f.Changed) && conn.Namespace != "" {
		e.namespace = conn.Namespace
	}
	return client.NewFromConnection(conn, client.WithWarningHandler(e.warnings.print), client.WithUserAgent("shoal/"+Version))
}

// NewRootCommand builds the `shoal` command with every client verb. agentCmd
// (the daemon, built elsewhere) and extra (such as `pause`) are added as they
// are; agentCmd may be nil.
func NewRootCommand(agentCmd *cobra.Command, extra ...*cobra.Command) *cobra.Command {
	return newRoot(&env{now: time.Now}, agentCmd, extra...)
}

func newRoot(e *env, agentCmd *cobra.Command, extra ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "shoal",
		Short: "shoal runs containers across plain Docker hosts",
		Long: `shoal turns ordinary Docker hosts into one cluster. Every host runs "shoal agent";
the other commands talk to an agent's API, in the habits of kubectl.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Flags are parsed by the command they follow, so that compose's
		// -f (file, before the verb) and logs -f (follow, after it) can
		// both be, as in docker compose.
		TraverseChildren: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, "%v", err)
	})
	f := root.PersistentFlags()
	f.StringVar(&e.kubeconfig, "kubeconfig", "", "credentials file (default: $KUBECONFIG, then ~/.shoal/config, then for root "+AgentKubeconfig+")")
	f.StringVar(&e.context, "context", "", "kubeconfig context to use (default: its current-context)")
	f.StringVar(&e.server, "server", "", "address of the shoal agent's API, overriding the kubeconfig's ($SHOAL_ADDR): https://host:port or unix:///path")
	f.StringVar(&e.token, "token", "", "bearer token for the API, overriding the kubeconfig's ($SHOAL_TOKEN)")
	f.StringVar(&e.caFile, "certificate-authority", "", "CA certificate (PEM) to trust the API's certificate with, overriding the kubeconfig's")
	f.BoolVar(&e.insecure, "insecure-skip-tls-verify", false, "do not check the API's certificate (insecure: anyone on the way can read and change requests)")
	f.StringVarP(&e.namespace, "namespace", "n", "default", "namespace of the request")

	root.AddCommand(
		newApplyCommand(e),
		newGetCommand(e),
		newDescribeCommand(e),
		newDeleteCommand(e),
		newLogsCommand(e),
		newExecCommand(e),
		newRunCommand(e),
		newExposeCommand(e),
		newCreateCommand(e),
		newScaleCommand(e),
		newSetCommand(e),
		newRolloutCommand(e),
		newVersionCommand(e),
		newMembersCommand(e),
		newCordonCommand(e),
		newUncordonCommand(e),
		newDrainCommand(e),
		newConfigCommand(e),
		newJoinTokenCommand(e),
		newTokenCommand(e),
		newKeysCommand(e),
		newCACommand(e),
		newAuthCommand(e),
		newEncryptionCommand(e),
		newComposeCommand(e),
		newImageCommand(e),
		newBackupCommand(e),
		newRestoreCommand(e),
		newLabelCommand(e),
		newAnnotateCommand(e),
		newPatchCommand(e),
		newWaitCommand(e),
		newEventsCommand(e),
		newTopCommand(e),
		newEditCommand(e),
		newDiffCommand(e),
		newPortForwardCommand(e),
		newCpCommand(e),
	)
	if agentCmd != nil {
		root.AddCommand(agentCmd)
	}
	root.AddCommand(extra...)
	addCompletions(e, root)
	return root
}

// Execute runs the command line and returns the process exit status: 0 on
// success, the command's own code for exec, 130 when interrupted, 1 after
// printing a one-line error otherwise.
func Execute(root *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, root)
}

func run(ctx context.Context, root *cobra.Command) (code int) {
	defer func() {
		// A bug must end in one line a user can report, not a stack dump.
		if r := recover(); r != nil {
			fmt.Fprintf(root.ErrOrStderr(), "error: internal error: %v (please report this as a bug of shoal %s)\n", r, Version)
			code = 2
		}
	}()
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil {
		return 130 // interrupted: the user knows why
	}
	return reportError(root.ErrOrStderr(), err)
}

// warningPrinter prints each distinct server warning once, as kubectl does.
type warningPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[string]bool
}

func newWarningPrinter(w io.Writer) *warningPrinter {
	return &warningPrinter{w: w, seen: map[string]bool{}}
}

func (p *warningPrinter) print(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[text] {
		return
	}
	p.seen[text] = true
	_, _ = io.WriteString(p.w, "Warning: "+text+"\n")
}
