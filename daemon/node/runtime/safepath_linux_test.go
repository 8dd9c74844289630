package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// volumeTree makes a volume with an inside tree and an outside directory
// holding a marker, and returns both.
func volumeTree(t *testing.T) (vol, outside string) {
	t.Helper()
	base := t.TempDir()
	vol, outside = filepath.Join(base, "vol"), filepath.Join(base, "outside")
	for _, d := range []string{vol + "/a/b", vol + "/c", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(vol, "a/b/inside"), []byte("inside"), 0o644)
	os.WriteFile(filepath.Join(vol, "file"), []byte("file"), 0o644)
	os.WriteFile(filepath.Join(outside, "marker"), []byte("outside"), 0o644)
	links := map[string]string{
		"toroot":      "/",
		"tooutside":   outside,
		"up":          "..",
		"sneaky":      "a/../../outside",
		"a/b/upup":    "../../..",
		"a/link":      "../c",
		"l1":          "l2",
		"l2":          "a/b",
		"n1":          "n2/x",
		"n2":          "tooutside",
		"loop":        "loop",
		"c/deep":      "../a/b/upup",
		"a/b/self":    ".",
		"relinside":   "./a/./b",
		"c/tooutside": "../../outside",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	return vol, outside
}

func sameInode(t *testing.T, fd *pathFD, path string) bool {
	t.Helper()
	var a, b unix.Stat_t
	if err := unix.Fstat(fd.fd, &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &b); err != nil {
		t.Fatal(err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func TestResolveBeneathNeverLeavesTheVolume(t *testing.T) {
	vol, _ := volumeTree(t)
	good := map[string]string{
		"a/b":          "a/b",
		"a/b/inside":   "a/b/inside",
		"a/link":       "c",
		"l1":           "a/b",
		"relinside":    "a/b",
		"a/b/self":     "a/b",
		"a/../c":       "c",
		"":             ".",
		"./a/./b/":     "a/b",
		"a/b/self/../": "a",
		"file":         "file",
	}
	for rel, want := range good {
		fd, err := resolveBeneath(vol, rel, false)
		if err != nil {
			t.Errorf("%q: %v", rel, err)
			continue
		}
		if !sameInode(t, fd, filepath.Join(vol, want)) {
			t.Errorf("%q did not resolve to %s", rel, want)
		}
		fd.Close()
	}
	escapes := []string{"toroot", "toroot/etc", "tooutside", "tooutside/marker", "up", "sneaky", "a/b/upup",
		"n1", "c/deep", "c/tooutside", "..", "a/../..", "../vol/a"}
	for _, rel := range escapes {
		fd, err := resolveBeneath(vol, rel, false)
		var esc *escapeError
		if !errors.As(err, &esc) {
			if fd != nil {
				fd.Close()
			}
			t.Errorf("%q: want an escape error, got %v", rel, err)
		}
	}
	for rel, want := range map[string]string{"loop": "too many levels", "file/x": "not a directory", "nothere": "no such file"} {
		if _, err := resolveBeneath(vol, rel, false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", rel, err, want)
		}
	}
}

func TestResolveBeneathCreatesOnlyInsideTheVolume(t *testing.T) {
	vol, outside := volumeTree(t)
	fd, err := resolveBeneath(vol, "new/deeper/dir", true)
	if err != nil {
		t.Fatal(err)
	}
	fd.Close()
	if st, err := os.Stat(filepath.Join(vol, "new/deeper/dir")); err != nil || !st.IsDir() {
		t.Fatalf("not created: %v", err)
	}
	for _, rel := range []string{"tooutside/made", "toroot/tmp/shoal-made-by-test", "up/made", "c/tooutside/made"} {
		if _, err := resolveBeneath(vol, rel, true); err == nil {
			t.Errorf("%q: created", rel)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "made")); !os.IsNotExist(err) {
		t.Fatalf("a directory was made outside: %v", err)
	}
	if _, err := os.Stat("/tmp/shoal-made-by-test"); !os.IsNotExist(err) {
		os.Remove("/tmp/shoal-made-by-test")
		t.Fatal("a directory was made under /")
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
}

func TestAStagedSubPathIgnoresASymlinkSwappedInAfterResolution(t *testing.T) {
	needRoot(t)
	vol, outside := volumeTree(t)
	fd, err := resolveBeneath(vol, "a/b", false)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	// The attacker swaps a/ for a link out of the volume.
	if err := os.Rename(filepath.Join(vol, "a"), filepath.Join(vol, "a-moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(vol, "a")); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "staged")
	if err := bindFD(fd, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	if b, err := os.ReadFile(filepath.Join(target, "inside")); err != nil || string(b) != "inside" {
		t.Fatalf("the staged mount shows %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(target, "marker")); err == nil {
		t.Fatal("the staged mount shows the outside directory")
	}
}

func TestSubPathMountsAreStagedAndRemovedWithThePod(t *testing.T) {
	needRoot(t)
	eng := enginetest.New()
	w := specWorker(t, eng)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "marker"), []byte("keep me"), 0o644)
	dataDir, _ := w.volumeDir("data")
	os.MkdirAll(filepath.Join(dataDir, "real"), 0o777)
	os.WriteFile(filepath.Join(dataDir, "real", "f"), []byte("pod data"), 0o644)
	os.Symlink("/", filepath.Join(dataDir, "escape"))
	os.Symlink(outside, filepath.Join(dataDir, "out"))
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"}, Spec: api.PodSpec{
		Volumes: []api.Volume{{Name: "data", EmptyDir: &api.EmptyDirVolumeSource{}}}}}
	mount := func(sub string) ([]engine.Mount, error) {
		c := &api.Container{Name: "app", VolumeMounts: []api.VolumeMount{{Name: "data", MountPath: "/d", SubPath: sub}}}
		return w.mounts(pod, c)
	}
	for _, sub := range []string{"escape", "escape/etc", "out", "out/new"} {
		_, err := mount(sub)
		var ce *configError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "escapes its volume") ||
			!strings.Contains(err.Error(), `failed to prepare subPath for volumeMount "data" of container "app"`) {
			t.Errorf("%q: %v", sub, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Fatal("a subPath directory was made outside the volume")
	}
	ms, err := mount("real")
	if err != nil {
		t.Fatal(err)
	}
	podDir, _ := w.rt.podDir(w.key.uid)
	if want := filepath.Join(podDir, "volume-subpaths", "data", "app", "0"); ms[0].Source != want || !mountPoint(t, want) {
		t.Fatalf("source %s, want the mounted %s", ms[0].Source, want)
	}
	if b, _ := os.ReadFile(filepath.Join(ms[0].Source, "f")); string(b) != "pod data" {
		t.Fatalf("staged content %q", b)
	}
	// Staging again (a restart of the container, or of the agent) replaces
	// the mount rather than stacking one.
	if _, err := mount("real"); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountPointsUnder(podDir); len(mps) != 1 {
		t.Fatalf("mounts %v", mps)
	}
	// Bind the outside directory under the pod as a stand-in for a mount
	// removal must not reach through.
	trap := filepath.Join(podDir, "volume-subpaths", "data", "app", "9")
	os.MkdirAll(trap, 0o750)
	if err := syscall.Mount(outside, trap, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.removeVolumes(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Fatalf("pod directory left: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "marker")); err != nil || string(b) != "keep me" {
		t.Fatalf("removing the pod reached outside: %q %v", b, err)
	}
}

func TestPathTokens(t *testing.T) {
	for _, ok := range []string{"0f1e2d3c-aaaa-4bbb-8ccc-123456789abc", "data", "a"} {
		if err := checkPathToken("x", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "..", "../../victimdir", "a/b", ".", "-rf", "A", "x y", "a\x00b", strings.Repeat("a", 65), "é"} {
		if err := checkPathToken("x", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestACraftedPodUIDNeverTouchesFilesOutsideTheDataDir(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(base, "victimdir")
	os.MkdirAll(victim, 0o755)
	os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o644)
	f := newFixture(t)
	f.stop()
	f.cfg.DataDir = filepath.Join(base, "data")
	os.MkdirAll(filepath.Join(f.cfg.DataDir, "pods"), 0o755)
	r := New(f.cfg, f.eng, f.objs, f.rec, slog.New(slog.DiscardHandler))
	for _, uid := range []string{"../../victimdir", "../../fresh", "/etc", "a/../../../victimdir"} {
		if _, err := r.podDir(uid); err == nil {
			t.Errorf("podDir(%q) accepted", uid)
		}
		w := newPodWorker(r, podKey{uid: uid, ns: "default", name: "p"})
		if err := w.removeVolumes(); err == nil {
			t.Errorf("removeVolumes for %q did not refuse", uid)
		}
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default", UID: uid},
			Spec: api.PodSpec{Volumes: []api.Volume{{Name: "v", EmptyDir: &api.EmptyDirVolumeSource{}}}}}
		if err := w.syncVolumes(context.Background(), pod); err == nil {
			t.Errorf("syncVolumes for %q did not refuse", uid)
		}
	}
	// Crafted volume names are refused too, whatever the volume type.
	w := newPodWorker(r, podKey{uid: "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc", ns: "default", name: "p"})
	for _, v := range []api.Volume{{Name: "../../victimdir", EmptyDir: &api.EmptyDirVolumeSource{}},
		{Name: "../../victimdir", HostPath: &api.HostPathVolumeSource{Path: base}}} {
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"}, Spec: api.PodSpec{Volumes: []api.Volume{v}}}
		if err := w.syncVolumes(context.Background(), pod); v.EmptyDir != nil && err == nil {
			t.Error("syncVolumes accepted a crafted volume name")
		}
		c := &api.Container{Name: "app", VolumeMounts: []api.VolumeMount{{Name: v.Name, MountPath: "/d", SubPath: "x"}}}
		if _, err := w.mounts(pod, c); err == nil {
			t.Error("mounts accepted a crafted volume name")
		}
	}
	// A container labelled with a crafted uid (as an orphan) is removed,
	// and the runner dispatching a crafted pod starts nothing.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	id, err := f.eng.CreateContainer(ctx, engine.ContainerSpec{Name: "orphan", Image: "app:1",
		Labels: map[string]string{engine.LabelPodUID: "../../victimdir", engine.LabelNode: "n1", engine.LabelContainer: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	r.dispatch(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "evil", Namespace: "default", UID: "../../fresh"},
		Spec: api.PodSpec{NodeName: "n1", Volumes: []api.Volume{{Name: "v", EmptyDir: &api.EmptyDirVolumeSource{}}},
			Containers: []api.Container{{Name: "app", Image: "app:1"}}}}, false)
	poll.Until(t, 5*time.Second, "the orphan removed", func() error {
		if _, ok := f.eng.State(id); ok {
			return errors.New("still there")
		}
		return nil
	})
	poll.Until(t, 5*time.Second, "no worker left", func() error {
		if n := r.PodCount(); n != 0 {
			return fmt.Errorf("%d workers", n)
		}
		return nil
	})
	if b, err := os.ReadFile(filepath.Join(victim, "precious")); err != nil || string(b) != "x" {
		t.Fatalf("the victim directory was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "fresh")); !os.IsNotExist(err) {
		t.Fatal("a directory was created outside the data dir")
	}
}

// FuzzResolveBeneath: whatever the path, what resolves lies inside the
// volume, and nothing is ever made outside it.
func FuzzResolveBeneath(f *testing.F) {
	for _, seed := range []string{"a/b", "toroot", "up", "sneaky", "n1", "c/deep", "l1/inside", "a/link/../b", "new/dir",
		"../..", "a//b/./../b", "loop", "file/x", "tooutside/made"} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	base := f.TempDir()
	vol, outside := filepath.Join(base, "vol"), filepath.Join(base, "outside")
	for _, d := range []string{vol + "/a/b", vol + "/c", outside} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(vol, "file"), nil, 0o644)
	for name, target := range map[string]string{"toroot": "/", "tooutside": outside, "up": "..", "sneaky": "a/../../outside",
		"a/b/upup": "../../..", "a/link": "../c", "l1": "l2", "l2": "a/b", "n1": "n2/x", "n2": "tooutside",
		"loop": "loop", "c/deep": "../a/b/upup"} {
		os.Symlink(target, filepath.Join(vol, name))
	}
	f.Fuzz(func(t *testing.T, rel string, create bool) {
		if len(rel) > 256 || strings.ContainsRune(rel, 0) {
			return
		}
		fd, err := resolveBeneath(vol, rel, create)
		if err == nil {
			where, lerr := os.Readlink(fd.procPath())
			fd.Close()
			if lerr != nil {
				t.Fatal(lerr)
			}
			if where != vol && !strings.HasPrefix(where, vol+"/") {
				t.Fatalf("%q resolved to %s, outside %s", rel, where, vol)
			}
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Fatalf("%q made %s outside the volume", rel, entries[0].Name())
		}
	})
}

func BenchmarkStageSubPath(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("bind mounts need root")
	}
	vol := b.TempDir()
	os.MkdirAll(filepath.Join(vol, "a/b/c"), 0o755)
	target := filepath.Join(b.TempDir(), "staged")
	for b.Loop() {
		if err := stageSubPath(vol, "a/b/c", false, target); err != nil {
			b.Fatal(err)
		}
	}
	unix.Unmount(target, unix.MNT_DETACH)
}

func TestAfterARestartTheFilesAndMountsOfGonePodsAreRemoved(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	f.stop()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "marker"), []byte("keep me"), 0o644)
	gone := filepath.Join(f.cfg.DataDir, "pods", "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc")
	staged := filepath.Join(gone, "volume-subpaths", "data", "app", "0")
	os.MkdirAll(staged, 0o750)
	if err := syscall.Mount(outside, staged, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(staged, unix.MNT_DETACH) })
	odd := filepath.Join(f.cfg.DataDir, "pods", "Not.A.UID")
	os.MkdirAll(odd, 0o755)
	f.start()
	poll.Until(t, 5*time.Second, "the gone pod's directory removed", func() error {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	if mountPoint(t, staged) {
		t.Fatal("the staged mount is left")
	}
	if b, err := os.ReadFile(filepath.Join(outside, "marker")); err != nil || string(b) != "keep me" {
		t.Fatalf("removal reached through the mount: %q %v", b, err)
	}
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("a directory whose name is no pod uid was touched: %v", err)
	}
}

func mountPoint(t *testing.T, p string) bool {
	t.Helper()
	ok, err := isMountPoint(p)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A mount that cannot be detached keeps the pod's directory, and the error
// says which mount and why.
func TestUnmountAllReportsWhatItCouldNotDetach(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	mp := filepath.Join(dir, "volumes", "secret")
	if err := os.MkdirAll(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mp, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mp, unix.MNT_DETACH)
	busy := errors.New("device or resource busy")
	unmount = func(string, int) error { return busy }
	err := unmountAll(dir)
	unmount = unix.Unmount
	if !errors.Is(err, busy) || !strings.Contains(err.Error(), mp) {
		t.Fatalf("unmountAll with a failing unmount: %v", err)
	}
	if err := unmountAll(dir); err != nil {
		t.Fatalf("unmountAll once unmount works: %v", err)
	}
	if ok := mountPoint(t, mp); ok {
		t.Fatal("still mounted")
	}
}
