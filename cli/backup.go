package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoal-dev/shoal/api"
)

// passphraseEnv gives the backup passphrase when no file does.
const passphraseEnv = "SHOAL_BACKUP_PASSPHRASE"

// backupPassphrase reads the passphrase from --passphrase-file (its first
// line) or $SHOAL_BACKUP_PASSPHRASE; with neither, and stdin a terminal, it
// asks for it without echo (twice when confirm is set, as for a new backup:
// a typo there would make the file unreadable).
func backupPassphrase(cmd *cobra.Command, file string, confirm bool) (string, error) {
	p := os.Getenv(passphraseEnv)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--passphrase-file: %w", err)
		}
		p, _, _ = strings.Cut(string(b), "\n")
		p = strings.TrimSuffix(p, "\r")
	}
	if p == "" {
		in, ok := cmd.InOrStdin().(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			return "", usageError(cmd, "a passphrase is required: it seals the Secrets and tokens in the file. Give --passphrase-file FILE or set $%s (or run on a terminal to be asked for it)", passphraseEnv)
		}
		var err error
		if p, err = promptPassphrase(cmd.Context(), cmd.ErrOrStderr(), int(in.Fd()), confirm); err != nil {
			return "", err
		}
	}
	if len(p) < api.MinBackupPassphrase {
		return "", usageError(cmd, "the passphrase has %d characters; give one of at least %d", len(p), api.MinBackupPassphrase)
	}
	return p, nil
}

// promptPassphrase asks on the terminal fd, with echo off; with confirm it
// asks again and refuses a mismatch. An interrupt (ctx ends: ^C) puts the
// terminal's echo back and returns.
func promptPassphrase(ctx context.Context, w io.Writer, fd int, confirm bool) (string, error) {
	type answer struct {
		line []byte
		err  error
	}
	ask := func(prompt string) (string, error) {
		restore, err := noEcho(fd)
		if err != nil {
			return "", fmt.Errorf("reading the passphrase from the terminal: %w", err)
		}
		defer restore()
		fmt.Fprint(w, prompt)
		got := make(chan answer, 1)
		// A terminal read cannot be cancelled: on an interrupt the command
		// ends with the terminal restored, and this read ends with the
		// process.
		go func() {
			line, err := readLine(fd)
			got <- answer{line, err}
		}()
		select {
		case a := <-got:
			fmt.Fprintln(w) // the Enter typed was not echoed
			if a.err != nil {
				return "", fmt.Errorf("reading the passphrase from the terminal: %w", a.err)
			}
			return strings.TrimSuffix(string(a.line), "\r"), nil
		case <-ctx.Done():
			fmt.Fprintln(w)
			return "", ctx.Err()
		}
	}
	p, err := ask("Backup passphrase: ")
	if err != nil || !confirm {
		return p, err
	}
	if len(p) < api.MinBackupPassphrase {
		return p, nil // refused by the length check, before asking again
	}
	again, err := ask("Backup passphrase again: ")
	if err != nil {
		return "", err
	}
	if again != p {
		return "", errors.New("the two passphrases differ; nothing was written: run the backup again")
	}
	return p, nil
}

func newBackupCommand(e *env) *cobra.Command {
	var out, passFile string
	cmd := &cobra.Command{
		Use:   "backup -o FILE --passphrase-file PASSFILE",
		Short: "Write a backup of the cluster's state to a file",
		Long: `Write a consistent snapshot of the cluster's state, taken by the agent in one read of its
store: every object and its status. Secrets and tokens are sealed in the file with a key
derived from the passphrase (AES-256-GCM); the cluster's CA and keys are not in it. Keep
the passphrase apart from the file: a restore needs both. With neither --passphrase-file
nor $SHOAL_BACKUP_PASSPHRASE, on a terminal it asks for the passphrase twice, without
echo. Any agent can take it; it needs a cluster administrator's credentials. See
docs/backup.md.`,
		Example: `  shoal backup -o cluster-$(date +%F).backup --passphrase-file /root/backup.pass
  SHOAL_BACKUP_PASSPHRASE=... shoal backup -o cluster.backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError(cmd, "-o FILE is required: the file to write the backup to")
			}
			pass, err := backupPassphrase(cmd, passFile, true)
			if err != nil {
				return err
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			// Written next to FILE and renamed once whole and checked, so
			// that FILE is never a partial backup.
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			n, err := c.Backup(cmd.Context(), pass, tmp)
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			h, err := checkBackupFile(tmp.Name())
			if err != nil {
				return fmt.Errorf("the backup received does not check: %w", err)
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of cluster %s taken by %s at %s: %d records (%s), %d bytes, written to %s\n",
				h.Cluster, h.Agent, h.Created.UTC().Format("2006-01-02T15:04:05Z"), h.Records, countList(h.Counts), n, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the backup to")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "file whose first line is the passphrase (default: $"+passphraseEnv+")")
	return cmd
}

func newRestoreCommand(e *env) *cobra.Command {
	var passFile string
	cmd := &cobra.Command{
		Use:   "restore FILE --passphrase-file PASSFILE",
		Short: "Seed a new cluster from a backup file",
		Long: `Seed a new cluster from a file written by shoal backup: the way back from losing every
host. Start one agent with an empty --data-dir (a new cluster: new CA, new credentials),
restore into it, then join the other hosts. Namespaces, workloads (Deployments,
ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs), Services, Ingresses, ConfigMaps,
Secrets, volume claims and RBAC are restored; nodes, events, endpoints, statuses,
tokens and the pods that controllers own are not (they are made again). A restore is
all or nothing, and is refused by a cluster that already holds objects the backup
would overwrite. With neither --passphrase-file nor $SHOAL_BACKUP_PASSPHRASE, on a
terminal it asks for the passphrase, without echo. See docs/backup.md.`,
		Example: `  shoal restore cluster.backup --passphrase-file /root/backup.pass`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "restore takes exactly one FILE, written by shoal backup")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// The file first: a wrong name is told before a passphrase is asked for.
			h, err := checkBackupFile(args[0])
			if err != nil {
				return err
			}
			pass, err := backupPassphrase(cmd, passFile, false)
			if err != nil {
				return err
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := c.Restore(cmd.Context(), pass, f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			total := 0
			for _, n := range res.Restored {
				total += n
			}
			fmt.Fprintf(w, "restored %d objects from the backup of cluster %s taken at %s: %s\n",
				total, h.Cluster, h.Created.UTC().Format("2006-01-02T15:04:05Z"), countList(res.Restored))
			reasons := make([]string, 0, len(res.Skipped))
			for why := range res.Skipped {
				reasons = append(reasons, why)
			}
			sort.Strings(reasons)
			for _, why := range reasons {
				fmt.Fprintf(w, "not restored: %d %s\n", res.Skipped[why], why)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "file whose first line is the passphrase (default: $"+passphraseEnv+")")
	return cmd
}

// checkBackupFile reads a backup file's header and checks the digest of
// its records, without the passphrase.
func checkBackupFile(path string) (*api.BackupHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	line, err := br.ReadSlice('\n')
	var h api.BackupHeader
	if err != nil || json.Unmarshal(line, &h) != nil || h.Kind != "Backup" {
		return nil, fmt.Errorf("%s is not a file written by shoal backup (its first line is not a backup header)", path)
	}
	if h.Format != api.BackupFormat {
		return nil, fmt.Errorf("%s is a backup of format %d; this shoal reads format %d: use the release that wrote it, or a newer one", path, h.Format, api.BackupFormat)
	}
	sum := sha256.New()
	n, err := io.Copy(sum, br)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if n != h.BodyBytes || hex.EncodeToString(sum.Sum(nil)) != h.SHA256 {
		return nil, fmt.Errorf("%s is damaged: its records (%d bytes) do not match the checksum in its header (%d bytes)", path, n, h.BodyBytes)
	}
	return &h, nil
}

// countList prints counts by name: "configmaps 2, deployments 1".
func countList(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
