//go:build linux

package sandbox

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetWaitIsItsSource assembles testdata/netwait/netwait_<arch>.S and
// compares the machine code with the bytes the gate is made of.
func TestNetWaitIsItsSource(t *testing.T) {
	for _, arch := range netWaitArches() {
		t.Run(arch, func(t *testing.T) {
			src := filepath.Join("testdata", "netwait", "netwait_"+arch+".S")
			want := assembleText(t, tinyTools[arch], src)
			if got := netWaitCode[arch].code; !bytes.Equal(got, want) {
				t.Fatalf("the machine code differs from %s:\n got %x\nwant %x", src, got, want)
			}
			program, _ := NetWait(arch)
			f, err := elf.NewFile(bytes.NewReader(program))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != netWaitCode[arch].machine || f.Type != elf.ET_EXEC || len(f.Progs) != 1 || f.Progs[0].Flags&elf.PF_W != 0 {
				t.Fatalf("machine %v, type %v, %d segments", f.Machine, f.Type, len(f.Progs))
			}
			t.Logf("%d bytes", len(program))
		})
	}
	if _, ok := NetWait("riscv64"); ok {
		t.Fatal("a gate for an architecture it was never written for")
	}
}

// netWaitArches are the architectures with a gate, in a fixed order.
func netWaitArches() []string { return slices.Sorted(maps.Keys(netWaitCode)) }

// netWaitCmd writes program (a gate for arch) and returns the command that
// runs it with args: natively on this machine's architecture, under
// qemu-user on the others. qemu-user hands the gate's execve to the host
// kernel, so the command must be a program of this machine (a script, this
// machine's tools; an arm64 program would need qemu in binfmt_misc), and
// qemu keeps the emulated signal mask as its own, so the command gets the
// mask the gate left, as on an arm64 kernel.
func netWaitCmd(t *testing.T, arch string, program []byte, args ...string) *exec.Cmd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netwait")
	if err := os.WriteFile(path, program, 0o755); err != nil {
		t.Fatal(err)
	}
	if arch == runtime.GOARCH {
		return exec.Command(path, args...)
	}
	qemu, err := exec.LookPath(tinyTools[arch].qemu)
	if err != nil {
		t.Fatalf("%s is needed to run the %s network gate (Debian: qemu-user; binutils-aarch64-linux-gnu assembles it): %v", tinyTools[arch].qemu, arch, err)
	}
	return exec.Command(qemu, append([]string{path}, args...)...)
}

// gateFor is the gate of arch, which every architecture tested has.
func gateFor(t *testing.T, arch string) []byte {
	t.Helper()
	program, ok := NetWait(arch)
	if !ok {
		t.Fatalf("no network gate for %s", arch)
	}
	return program
}

// lookingEvery returns the gate with its look-again, the timespec of
// 20 ms in its data, made sec seconds long.
func lookingEvery(t *testing.T, program []byte, sec uint64) []byte {
	t.Helper()
	tick := binary.LittleEndian.AppendUint64(make([]byte, 8), 20_000_000)
	if n := bytes.Count(program, tick); n != 1 {
		t.Fatalf("the gate's 20 ms timespec found %d times, want once", n)
	}
	slow := bytes.Clone(program)
	binary.LittleEndian.PutUint64(slow[bytes.Index(slow, tick):], sec)
	return slow
}

// TestNetWaitRunsTheCommand runs the gate where a default route exists
// (this host's namespace): it runs the command at once, found as execvp
// finds it, with its arguments, environment and an empty signal mask.
func TestNetWaitRunsTheCommand(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "show")
	if err := os.WriteFile(script, []byte("#!"+sh+"\necho \"$0|$1|$2|$GREETING\"\nwhile read -r l; do case $l in SigBlk*) echo \"$l\";; esac; done </proc/self/status\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, arch := range netWaitArches() {
		for _, tc := range []struct {
			name string
			path string // PATH; "-" for none
			argv []string
			want string
		}{
			{"found in PATH, a missing directory first", "/no/such/dir:" + dir, []string{"show", "a b", "c"}, dir + "/show|a b|c|hello\nSigBlk:\t0000000000000000\n"},
			{"an empty directory is the working one", "/no/such/dir:", []string{"show", "x", ""}, "./show|x||hello\nSigBlk:\t0000000000000000\n"},
			{"a name with a slash runs as it is", "/no/such/dir", []string{script, "1", "2"}, script + "|1|2|hello\nSigBlk:\t0000000000000000\n"},
			{"no PATH: the engine's default", "-", []string{"true"}, ""},
		} {
			t.Run(arch+"/"+tc.name, func(t *testing.T) {
				cmd := netWaitCmd(t, arch, gateFor(t, arch), tc.argv...)
				cmd.Dir = dir
				cmd.Env = []string{"GREETING=hello"}
				if tc.path != "-" {
					cmd.Env = append(cmd.Env, "PATH="+tc.path)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v: %v, stderr %q", tc.argv, err, stderr.String())
				}
				if string(out) != tc.want {
					t.Fatalf("%v printed %q, want %q", tc.argv, out, tc.want)
				}
			})
		}
	}
}

// TestNetWaitFailsClearly: a command that cannot run is named on stderr
// and the gate exits 127, as a shell does.
func TestNetWaitFailsClearly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range netWaitArches() {
		t.Run(arch, func(t *testing.T) {
			gate := gateFor(t, arch)
			for _, argv := range [][]string{{"no-such-command-here"}, {filepath.Join(dir, "data")}, {"data"}, {}} {
				cmd := netWaitCmd(t, arch, gate, argv...)
				cmd.Env = []string{"PATH=" + dir + ":/no/such/dir"}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 127 {
					t.Fatalf("%v: %v, want exit 127", argv, err)
				}
				want := "shoal: the container's command was not found or could not run: " + strings.Join(argv, "") + "\n"
				if stderr.String() != want {
					t.Fatalf("%v: stderr %q, want %q", argv, stderr.String(), want)
				}
			}
		})
	}
}

// TestNetWaitWaitsForTheDefaultRoute runs the gate in a network namespace
// of its own with no route, as in a container the agent has not wired yet:
// the command runs only once a default route exists, within the gate's
// 20 ms look-again, or at SIGCONT: that case runs a gate that looks again
// only every 60 s, so that only the signal can open it in time (under
// qemu-user too, where the signal goes to qemu and must reach the
// emulated rt_sigtimedwait). Routes that are not the default (a subnet's,
// whose gateway column is zeros) do not open it, woken or not.
func TestNetWaitWaitsForTheDefaultRoute(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes a network namespace: run it as root (scripts/test does)")
	}
	for _, arch := range netWaitArches() {
		for _, signal := range []bool{true, false} {
			name := map[bool]string{true: "woken by SIGCONT", false: "looking again"}[signal]
			t.Run(arch+"/"+name, func(t *testing.T) {
				gate := gateFor(t, arch)
				if signal {
					gate = lookingEvery(t, gate, 60)
				}
				marker := filepath.Join(t.TempDir(), "ran")
				cmd := netWaitCmd(t, arch, gate, "touch", marker)
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				var waitErr error
				done := make(chan struct{})
				go func() { waitErr = cmd.Wait(); close(done) }()
				t.Cleanup(func() { cmd.Process.Kill(); <-done })
				// SIGCONT is blocked from here on: a signal sent earlier
				// would be lost.
				waitInSigtimedwait(t, cmd.Process.Pid)
				ns := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"
				in := func(args ...string) {
					t.Helper()
					full := append([]string{"--net=" + ns, "ip"}, args...)
					if out, err := exec.Command("nsenter", full...).CombinedOutput(); err != nil {
						t.Fatalf("ip %v: %v\n%s", args, err, out)
					}
				}
				wake := func() {
					t.Helper()
					if signal {
						if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
							t.Fatal(err)
						}
					}
				}
				in("link", "set", "lo", "up")
				in("addr", "add", "10.99.0.2/24", "dev", "lo")
				// The subnet route alone: not yet.
				wake()
				time.Sleep(150 * time.Millisecond)
				if _, err := os.Stat(marker); err == nil {
					t.Fatal("the command ran before the namespace had a default route")
				}
				select {
				case <-done:
					t.Fatalf("the gate ended before the default route: %v", waitErr)
				default:
				}
				in("route", "add", "default", "dev", "lo")
				routed := time.Now()
				wake()
				select {
				case <-done:
					if waitErr != nil {
						t.Fatalf("the command failed: %v", waitErr)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the command did not run within 5 s of the default route")
				}
				took := time.Since(routed)
				if _, err := os.Stat(marker); err != nil {
					t.Fatalf("the command did not run: %v", err)
				}
				t.Logf("%s: ran %v after the default route", name, took.Round(time.Millisecond))
			})
		}
	}
}

func TestInstallNetWaitWritesTheGateOnceAndRepairsIt(t *testing.T) {
	prog, ok := NetWait(runtime.GOARCH)
	if !ok {
		dir := t.TempDir()
		if path, err := InstallNetWait(dir); err != nil || path != "" {
			t.Fatalf("no gate for %s: got %q, %v; want \"\" and no error", runtime.GOARCH, path, err)
		}
		return
	}
	dir := filepath.Join(t.TempDir(), "bin")
	path, err := InstallNetWait(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755 (a pod of any user runs it)", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, prog) {
		t.Fatal("the installed gate differs from NetWait's")
	}
	// Installed again: the same file is kept (running pods' mounts hold
	// it), nothing else is left in the directory.
	before, _ := os.Stat(path)
	if _, err := InstallNetWait(dir); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("an unchanged gate was written again")
	}
	// A damaged or older gate is replaced whole.
	if err := os.WriteFile(path, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallNetWait(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, prog) {
		t.Fatal("a damaged gate was not replaced")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d entries in %s: a temporary file was left", len(entries), dir)
	}
}

// TestWakeNetWaitSignalsOnlyAProcessWithTheGate: a process without the
// gate at NetWaitMount (here: a stopped sleep of the test's own mount
// namespace) is not sent SIGCONT.
func TestWakeNetWaitSignalsOnlyAProcessWithTheGate(t *testing.T) {
	if _, err := os.Stat(NetWaitMount); err == nil {
		t.Fatalf("%s exists on this host: the test cannot tell", NetWaitMount)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	state := func() string {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return f[0]
	}
	waitState := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); state() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("state %s, want %s", state(), want)
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState("T")
	WakeNetWait(cmd.Process.Pid)
	time.Sleep(100 * time.Millisecond)
	if s := state(); s != "T" {
		t.Fatalf("a process without the gate was woken (state %s)", s)
	}
	// The check that can fail: SIGCONT does wake it.
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitState("S")
}
