//go:build linux

package sandbox

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// tinyTools are the programs that assemble and run each architecture's
// tiny pause on another machine (Debian: binutils, binutils-aarch64-linux-gnu,
// qemu-user; scripts/test installs them).
var tinyTools = map[string]struct{ as, objcopy, qemu string }{
	"amd64": {"x86_64-linux-gnu-as", "x86_64-linux-gnu-objcopy", "qemu-x86_64"},
	"arm64": {"aarch64-linux-gnu-as", "aarch64-linux-gnu-objcopy", "qemu-aarch64"},
}

// assembleText assembles src with tools and returns its machine code (the
// .text section).
func assembleText(t *testing.T, tools struct{ as, objcopy, qemu string }, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "prog.o"), filepath.Join(dir, "prog.bin")
	for _, cmd := range [][]string{
		{lookTool(t, tools.as), "-o", obj, src},
		{lookTool(t, tools.objcopy), "-O", "binary", "-j", ".text", obj, bin},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed to check the tiny pause and the network gate (Debian: binutils, binutils-aarch64-linux-gnu, qemu-user): %v", name, err)
	}
	return path
}

// TestTinyPauseIsItsSource assembles testdata/tinypause/pause_<arch>.S and
// compares the machine code with the bytes the image is made of.
func TestTinyPauseIsItsSource(t *testing.T) {
	for arch, tools := range tinyTools {
		t.Run(arch, func(t *testing.T) {
			src := filepath.Join("testdata", "tinypause", "pause_"+arch+".S")
			want := assembleText(t, tools, src)
			if got := tinyPauseCode[arch].code; !bytes.Equal(got, want) {
				t.Fatalf("the machine code differs from %s:\n got %x\nwant %x", src, got, want)
			}
		})
	}
}

// TestTinyPauseIsAStaticELF reads the program back as the kernel would.
func TestTinyPauseIsAStaticELF(t *testing.T) {
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		program, ok := TinyPause(arch)
		if !ok {
			t.Fatalf("no tiny pause for %s", arch)
		}
		f, err := elf.NewFile(bytes.NewReader(program))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Machine != machine || f.Type != elf.ET_EXEC || f.Class != elf.ELFCLASS64 || len(f.Progs) != 1 {
			t.Fatalf("%s: machine %v type %v class %v segments %d", arch, f.Machine, f.Type, f.Class, len(f.Progs))
		}
		seg := f.Progs[0]
		if seg.Type != elf.PT_LOAD || seg.Filesz != uint64(len(program)) || seg.Flags&elf.PF_W != 0 ||
			f.Entry != seg.Vaddr+64+56 || f.Entry%8 != 0 {
			t.Fatalf("%s: segment %+v entry %#x", arch, seg.ProgHeader, f.Entry)
		}
		if len(program) > 512 {
			t.Fatalf("%s: %d bytes; the tiny pause was meant to stay tiny", arch, len(program))
		}
	}
	if _, ok := TinyPause("riscv64"); ok {
		t.Fatal("a tiny pause for an architecture it was never written for")
	}
}

// startTinyPause writes the program for arch and starts it, natively or
// through qemu, with attr; it returns once the program waits for a signal.
func startTinyPause(t *testing.T, arch string, attr *syscall.SysProcAttr) *exec.Cmd {
	t.Helper()
	program, _ := TinyPause(arch)
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, program, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	native := arch == runtime.GOARCH
	if !native {
		cmd = exec.Command(lookTool(t, tinyTools[arch].qemu), path)
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// qemu runs the emulated program's wait as a wait of its own.
	waitInSigtimedwait(t, cmd.Process.Pid)
	return cmd
}

// waitInSigtimedwait waits until the process sits in rt_sigtimedwait (as
// this machine numbers it), its signal mask in place.
func waitInSigtimedwait(t *testing.T, pid int) {
	t.Helper()
	call := map[string]string{"amd64": "128 ", "arm64": "137 "}[runtime.GOARCH]
	poll.Until(t, 5*time.Second, "the pause waiting for a signal", func() error {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/syscall")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(b), call) {
			return fmt.Errorf("in %q", b)
		}
		return nil
	})
}

// statusLine is the value of a field of /proc/<pid>/status, "" if none.
func statusLine(pid int, name string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// statusField reads a hexadecimal field of /proc/<pid>/status (a mask).
func statusField(pid int, name string) uint64 {
	n, _ := strconv.ParseUint(statusLine(pid, name), 16, 64)
	return n
}

// statusKB reads a field in kB of /proc/<pid>/status, -1 if none.
func statusKB(pid int, name string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(statusLine(pid, name), " kB"))
	if err != nil {
		return -1
	}
	return n
}

func TestTinyPauseExitsZeroOnTermAndInt(t *testing.T) {
	for arch := range tinyTools {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(arch+"/"+sig.String(), func(t *testing.T) {
				cmd := startTinyPause(t, arch, nil)
				// Any other signal is waited through: SIGCHLD is ignored.
				if err := cmd.Process.Signal(syscall.SIGCHLD); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("exit after %v: %v, want 0", sig, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("still running 5 s after %v", sig)
				}
			})
		}
	}
}

// TestTinyPauseReapsOrphansAsPID1 runs the pause as PID 1 of a new PID
// namespace, as in a sandbox, and leaves an orphan in that namespace: the
// orphan becomes the pause's child and, once it exits, is reaped (a zombie
// keeps its /proc entry until then).
func TestTinyPauseReapsOrphansAsPID1(t *testing.T) {
	nsenter := lookTool(t, "nsenter")
	cmd := startTinyPause(t, runtime.GOARCH, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID})
	pause := cmd.Process.Pid
	if ign := statusField(pause, "SigIgn"); ign&(1<<16) == 0 {
		t.Fatalf("SIGCHLD not ignored: SigIgn %#x", ign)
	}
	// The shell exits at once; its background sleep (holding no pipe of the
	// test's, which would be waited for) is left to the pause.
	out, err := exec.Command(nsenter, "--target", strconv.Itoa(pause), "--pid", "--",
		"/bin/sh", "-c", "sleep 1 >/dev/null 2>&1 & exit 0").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v\n%s", err, out)
	}
	var orphan int
	poll.Until(t, 5*time.Second, "the orphan adopted by the pause", func() error {
		if kids := children(pause); len(kids) > 0 {
			orphan = kids[0]
			return nil
		}
		return fmt.Errorf("no child of %d", pause)
	})
	poll.Until(t, 5*time.Second, fmt.Sprintf("orphan %d reaped", orphan), func() error {
		if procExists(orphan) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(orphan) + "/stat")
			return fmt.Errorf("still there, state %c", procState(b))
		}
		return nil
	})
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok && strings.TrimSpace(v) == strconv.Itoa(pid) {
				out = append(out, n)
			}
		}
	}
	return out
}
