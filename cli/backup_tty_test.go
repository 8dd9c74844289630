//go:build linux || darwin

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// runOnTerminal runs the CLI with stdin and stderr on the terminal, as a
// user at a shell does, and stdout in out.
func runOnTerminal(t *testing.T, srv *clienttest.Server, term *ptyScreen, out *syncBuffer, args ...string) chan int {
	done, _ := runOnTerminalCancel(t, srv, term, out, args...)
	return done
}

// runOnTerminalCancel is runOnTerminal, and a cancel that interrupts the
// command as ^C does.
func runOnTerminalCancel(t *testing.T, srv *clienttest.Server, term *ptyScreen, out *syncBuffer, args ...string) (chan int, context.CancelFunc) {
	root := newRoot(&env{now: func() time.Time { return fixedNow }}, nil)
	root.SetArgs(append([]string{"--server", srv.URL, "--token", srv.Token}, args...))
	root.SetIn(term.tty)
	root.SetOut(out)
	root.SetErr(term.tty)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	done := make(chan int, 1)
	go func() { done <- run(ctx, root) }()
	return done, cancel
}

// typeAfter waits for the prompt to be the last thing drawn the nth time,
// then types line and Enter.
func (term *ptyScreen) typeAfter(t *testing.T, prompt string, nth int, line string) {
	t.Helper()
	poll.Cond(t, 5*time.Second, "the prompt "+prompt, func() bool {
		s := term.screen.String()
		return strings.Count(s, prompt) >= nth && strings.HasSuffix(s, prompt)
	})
	if _, err := term.ptmx.WriteString(line + "\r"); err != nil {
		t.Fatal(err)
	}
}

// With no passphrase given and stdin a terminal, backup asks twice without
// echo and refuses a mismatch; restore asks once.
func TestBackupAsksForThePassphraseOnATerminal(t *testing.T) {
	t.Setenv(passphraseEnv, "")
	const pass = "typed at the terminal"
	dir := t.TempDir()
	file := filepath.Join(dir, "c.backup")
	old := clienttest.NewServer(t)
	if r := shoal(t, old, backupManifests, "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply: %s", r.stderr)
	}

	t.Run("a mismatch writes nothing", func(t *testing.T) {
		term := openTerminal(t)
		var out syncBuffer
		done := runOnTerminal(t, old, term, &out, "backup", "-o", file)
		term.typeAfter(t, "Backup passphrase: ", 1, pass)
		term.typeAfter(t, "Backup passphrase again: ", 1, pass+" but not quite")
		if code := <-done; code == 0 {
			t.Fatalf("exit 0 with two different passphrases; stdout %q", out.String())
		}
		screen := term.text()
		if !strings.Contains(screen, "the two passphrases differ") {
			t.Errorf("no error naming the mismatch on the terminal:\n%q", screen)
		}
		if strings.Contains(screen, "typed") {
			t.Errorf("the passphrase was echoed:\n%q", screen)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("a backup file after a mismatch: %v", err)
		}
	})

	t.Run("a short one is refused before asking again", func(t *testing.T) {
		term := openTerminal(t)
		var out syncBuffer
		done := runOnTerminal(t, old, term, &out, "backup", "-o", file)
		term.typeAfter(t, "Backup passphrase: ", 1, "short")
		if code := <-done; code == 0 {
			t.Fatal("exit 0 with a 5-character passphrase")
		}
		if screen := term.text(); !strings.Contains(screen, "the passphrase has 5 characters") || strings.Contains(screen, "again") {
			t.Errorf("want the length refused at once:\n%q", screen)
		}
	})

	t.Run("backup, then restore with the typed passphrase", func(t *testing.T) {
		term := openTerminal(t)
		var out syncBuffer
		done := runOnTerminal(t, old, term, &out, "backup", "-o", file)
		term.typeAfter(t, "Backup passphrase: ", 1, pass)
		term.typeAfter(t, "Backup passphrase again: ", 1, pass)
		if code := <-done; code != 0 {
			t.Fatalf("backup: exit %d:\n%q", code, term.text())
		}
		if screen := term.text(); strings.Contains(screen, "typed") {
			t.Errorf("the passphrase was echoed:\n%q", screen)
		}
		if !strings.Contains(out.String(), "configmaps 1") {
			t.Fatalf("backup printed %q", out.String())
		}

		// The passphrase typed is the one that seals the file: a wrong one
		// typed at the restore is refused, the right one restores.
		fresh := clienttest.NewServer(t)
		term = openTerminal(t)
		done = runOnTerminal(t, fresh, term, &out, "restore", file)
		term.typeAfter(t, "Backup passphrase: ", 1, "another passphrase entirely")
		if code := <-done; code == 0 {
			t.Fatal("restore with a wrong typed passphrase: exit 0")
		}
		term.text()
		term = openTerminal(t)
		var restored syncBuffer
		done = runOnTerminal(t, fresh, term, &restored, "restore", file)
		term.typeAfter(t, "Backup passphrase: ", 1, pass)
		if code := <-done; code != 0 {
			t.Fatalf("restore: exit %d:\n%q", code, term.text())
		}
		if screen := term.text(); strings.Contains(screen, "typed") || strings.Contains(screen, "again") {
			t.Errorf("restore asks once, without echo:\n%q", screen)
		}
		if !strings.Contains(restored.String(), "restored") || !strings.Contains(restored.String(), "configmaps 1") {
			t.Errorf("restore printed %q", restored.String())
		}
	})

	t.Run("an interrupt at the prompt ends the command with echo back on", func(t *testing.T) {
		term := openTerminal(t)
		var out syncBuffer
		done, interrupt := runOnTerminalCancel(t, old, term, &out, "backup", "-o", file+".3")
		poll.Cond(t, 5*time.Second, "the prompt", func() bool { return strings.HasSuffix(term.screen.String(), "Backup passphrase: ") })
		interrupt()
		select {
		case code := <-done:
			if code != 130 {
				t.Errorf("exit %d after the interrupt, want 130", code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the command did not end after the interrupt")
		}
		if _, err := term.ptmx.WriteString("echoed again\r"); err != nil {
			t.Fatal(err)
		}
		poll.Cond(t, 5*time.Second, "typing echoed again", func() bool { return strings.Contains(term.screen.String(), "echoed again") })
		if _, err := os.Stat(file + ".3"); !os.IsNotExist(err) {
			t.Errorf("a backup file after an interrupt: %v", err)
		}
	})

	t.Run("not a terminal: the error names the flag", func(t *testing.T) {
		r := shoal(t, old, "", "backup", "-o", file+".2")
		if r.code == 0 || !strings.Contains(r.stderr, "--passphrase-file") || !strings.Contains(r.stderr, passphraseEnv) {
			t.Fatalf("backup with no passphrase and no terminal: %d %q", r.code, r.stderr)
		}
	})
}
