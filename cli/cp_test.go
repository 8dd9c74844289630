package cli

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// hostExec runs the pod's commands on this machine with the real tar, so
// that cp's streams meet a real tar on the other side. The pod "evil"
// answers with a tar that tries to leave the destination; "notar" has none.
func hostExec(ctx context.Context, req clienttest.ExecRequest) (int, error) {
	switch req.Pod {
	case "evil":
		tw := tar.NewWriter(req.Stdout)
		_ = tw.WriteHeader(&tar.Header{Name: "data/../../evil.txt", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("evil"))
		_ = tw.Close()
		return 0, nil
	case "notar":
		_, _ = io.WriteString(req.Stderr, `exec: "tar": executable file not found in $PATH`)
		return 127, nil
	}
	cmd := exec.CommandContext(ctx, req.Command[0], req.Command[1:]...)
	if req.Stdin != nil {
		cmd.Stdin = req.Stdin
	}
	cmd.Stdout, cmd.Stderr = req.Stdout, req.Stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), nil
	}
	return 0, err
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(b)
}

func TestCp(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Fatalf("this test needs tar on the machine: %v", err)
	}
	srv := clienttest.NewServer(t)
	srv.Exec = hostExec
	srv.Add(running("web-1", "default", ago(time.Hour)), running("evil", "default", ago(time.Hour)), running("notar", "default", ago(time.Hour)))
	podfs, local := t.TempDir(), t.TempDir()
	writeTree(t, podfs, map[string]string{"data/a.txt": "alpha\n", "data/sub/b.txt": "beta\n"})

	// A file and a directory from the pod.
	expectOK(t, shoal(t, srv, "", "cp", "web-1:"+podfs+"/data/a.txt", filepath.Join(local, "out.txt")))
	if got := readText(t, filepath.Join(local, "out.txt")); got != "alpha\n" {
		t.Fatalf("file from pod: %q", got)
	}
	expectOK(t, shoal(t, srv, "", "cp", "default/web-1:"+podfs+"/data", filepath.Join(local, "copy")))
	if readText(t, filepath.Join(local, "copy/a.txt")) != "alpha\n" || readText(t, filepath.Join(local, "copy/sub/b.txt")) != "beta\n" {
		t.Fatal("directory from pod: wrong contents")
	}
	// A file into an existing directory keeps its name.
	expectOK(t, shoal(t, srv, "", "cp", "web-1:"+podfs+"/data/sub/b.txt", local))
	if readText(t, filepath.Join(local, "b.txt")) != "beta\n" {
		t.Fatal("file into a directory")
	}

	// A directory and a file to the pod.
	writeTree(t, local, map[string]string{"site/index.html": "<h1>hi</h1>\n", "site/css/s.css": "body{}\n"})
	expectOK(t, shoal(t, srv, "", "cp", filepath.Join(local, "site"), "web-1:"+podfs+"/html"))
	if readText(t, filepath.Join(podfs, "html/index.html")) != "<h1>hi</h1>\n" || readText(t, filepath.Join(podfs, "html/css/s.css")) != "body{}\n" {
		t.Fatal("directory to pod: wrong contents")
	}
	expectOK(t, shoal(t, srv, "", "cp", filepath.Join(local, "out.txt"), "web-1:"+podfs+"/data/renamed.txt"))
	if readText(t, filepath.Join(podfs, "data/renamed.txt")) != "alpha\n" {
		t.Fatal("file to pod")
	}

	// A tar that reaches outside the destination is refused.
	dest := filepath.Join(local, "safe")
	r := shoal(t, srv, "", "cp", "evil:/data", dest)
	if r.code != 1 || !strings.Contains(r.stderr, "refused") {
		t.Fatalf("escaping tar: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(local, "evil.txt")); err == nil {
		t.Fatal("the escaping entry was written")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "notar:/etc/hosts", local}, "pod notar has no tar in its container: cp needs a tar program in the image"},
		{[]string{"cp", "web-1:/a", "web-1:/b"}, "one side must be local"},
		{[]string{"cp", local, filepath.Join(local, "x")}, "one side must be a pod, written POD:PATH"},
		{[]string{"cp", "web-1:", local}, "give the path in the container after the colon"},
		{[]string{"cp", filepath.Join(local, "missing"), "web-1:/tmp"}, "no such file or directory"},
		{[]string{"cp", "web-1:" + podfs + "/nothing", filepath.Join(local, "n")}, "tar in pod web-1"},
		{[]string{"cp", "nope:/etc/hosts", local}, `pods "nope" not found`},
	} {
		if r := shoal(t, srv, "", c.args...); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
