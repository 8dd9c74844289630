package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

func contextTar(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// A build FROM a local image works offline with the classic builder: the
// target, args and labels are the engine's, each output line reaches
// progress, and a failing step is an error with the engine's message.
func TestDockerBuildImage(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, 2*time.Minute)
	cli := sdkClient(t)
	base := enginetest.UniqueName("shoal-test-base-")
	if err := d.ImportImage(ctx, contextTar(t, map[string]string{"marker": "base"}), base, []string{`CMD ["/marker"]`}); err != nil {
		t.Fatal(err)
	}
	tag := enginetest.UniqueName("shoal-test-built-")
	t.Cleanup(func() {
		for _, ref := range []string{tag, base} {
			_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
	v := "from-arg"
	var lines []string
	id, err := d.BuildImage(ctx, contextTar(t, map[string]string{
		"Dockerfile": "FROM " + base + " AS one\nARG NOTE=none\nLABEL note=$NOTE\nCOPY file /file\nFROM one AS two\nLABEL stage=two\n",
		"file":       "x",
	}), engine.BuildSpec{Tags: []string{tag}, Target: "one", BuildArgs: map[string]*string{"NOTE": &v},
		Labels: map[string]string{enginetest.TestLabel: "1"}}, func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	info, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || info.Config.Labels["note"] != "from-arg" || info.Config.Labels["stage"] != "" || info.Config.Labels[enginetest.TestLabel] != "1" {
		t.Errorf("built %s (id %s) with labels %v", info.ID, id, info.Config.Labels)
	}
	if !strings.Contains(strings.Join(lines, ""), "Step 1/") {
		t.Errorf("progress lines %q", lines)
	}
	_, err = d.BuildImage(ctx, contextTar(t, map[string]string{"Dockerfile": "FROM " + base + "\nCOPY missing /missing\n"}),
		engine.BuildSpec{Tags: []string{tag + "-bad"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a failing step: %v", err)
	}
}

func TestDockerRemoveVolume(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	prefix := enginetest.UniqueName("shoal-test-rmvol-") + "-"
	cli := sdkClient(t)
	for _, n := range []string{prefix + "a", prefix + "b"} {
		t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), n, true) })
		if err := d.EnsureVolume(ctx, n, testLabels("ns", "x")); err != nil {
			t.Fatal(err)
		}
	}
	vols, err := d.ListVolumes(ctx, prefix)
	if err != nil || len(vols) != 2 || vols[0].Labels["ns"] != "x" {
		t.Fatalf("ListVolumes = %+v, %v", vols, err)
	}
	if err := d.RemoveVolume(ctx, prefix+"a"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveVolume(ctx, prefix+"a"); err != nil {
		t.Errorf("removing a volume that is gone: %v", err)
	}
	if vols, _ := d.ListVolumes(ctx, prefix); len(vols) != 1 || vols[0].Name != prefix+"b" {
		t.Errorf("after the removal: %+v", vols)
	}
	// A volume a container holds stays, with ErrInUse.
	createContainer(t, d, engine.ContainerSpec{Name: enginetest.UniqueName("shoal-test-holder-"), Image: enginetest.ImportBusybox(t, d),
		Labels: testLabels(), Cmd: []string{"true"}, Mounts: []engine.Mount{{Type: "volume", Source: prefix + "b", Target: "/v"}}})
	if err := d.RemoveVolume(ctx, prefix+"b"); !errors.Is(err, engine.ErrInUse) {
		t.Errorf("removing a volume in use: %v, want ErrInUse", err)
	}
}

func TestDockerTop(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	id := runContainer(t, d, engine.ContainerSpec{Name: enginetest.UniqueName("shoal-test-top-"), Image: enginetest.ImportBusybox(t, d),
		Labels: testLabels(), Cmd: []string{"sleep", "300"}})
	titles, procs, err := d.Top(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cmd := -1
	for i, title := range titles {
		if title == "CMD" {
			cmd = i
		}
	}
	if cmd < 0 || len(procs) != 1 || !strings.Contains(procs[0][cmd], "sleep 300") {
		t.Fatalf("top: %v %v", titles, procs)
	}
	if _, _, err := d.Top(ctx, "no-such-container"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("top of a missing container: %v", err)
	}
}
