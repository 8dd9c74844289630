package integration

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// buildOn builds a small image FROM the test image on host i's engine
// only, offline, and returns its ID.
func (c *cluster) buildOn(i int, tag, marker string) string {
	c.t.Helper()
	dir := c.t.TempDir()
	dockerfile := "FROM " + testImage + "\nCOPY marker /marker\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(marker), 0o644); err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command("docker", "-H", c.agent(i).dockerHost, "build", "-q", "-t", tag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("docker build on h%d: %v\n%s", i, err, out)
	}
	return c.docker(i, "image", "inspect", "-f", "{{.Id}}", tag)
}

// imageHosts is what `shoal image ls IMAGE -o json` says of an image: its
// ID and the nodes that report it.
func imageHosts(t *testing.T, h *clusterHost, image string) (string, []string) {
	t.Helper()
	out := h.shoal("image", "ls", image, "-o", "json")
	var l struct {
		Items []struct {
			ID    string   `json:"id"`
			Nodes []string `json:"nodes"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("image ls: %v\n%s", err, out)
	}
	if len(l.Items) != 1 {
		return "", nil
	}
	return l.Items[0].ID, l.Items[0].Nodes
}

// An image built on h1 only runs on h2 and h3 with no registry: each agent
// copies it from h1 (checked against its ID) when a pod needs it, the
// nodes report it, `shoal image ls` shows it on exactly the hosts that
// needed it, and `shoal image push-to-hosts` places another on a named
// host ahead of time. Only agents may call the save endpoint.
func TestClusterImagesMoveBetweenHostsWithoutARegistry(t *testing.T) {
	c := startCluster(t, 3)
	h1 := c.agent(1)
	poll.Until(t, 60*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	id := c.buildOn(1, "moved:1", "built on h1 "+randomSuffix())
	for _, i := range []int{2, 3} {
		if out, err := c.agent(i).dockerIn("image", "inspect", "moved:1"); err == nil {
			t.Fatalf("h%d holds moved:1 before the test: %s", i, out)
		}
	}
	poll.Until(t, 30*time.Second, "h1 reports moved:1", func() error {
		if got, nodes := imageHosts(t, h1, "moved:1"); got != id || !slices.Equal(nodes, []string{"h1"}) {
			return fmt.Errorf("image ls: %s on %v", got, nodes)
		}
		return nil
	})

	// Pods pinned to h2 and h3 (a label only they carry), one on each.
	for _, n := range []string{"h2", "h3"} {
		_, _, err := h1.client.Modify(ctx(t), api.KindNode, "", n, func(o api.Object) (bool, error) {
			o.(*api.Node).Labels["images-test"] = "target"
			return true, nil
		})
		if err != nil {
			t.Fatalf("label %s: %v", n, err)
		}
	}
	manifest := strings.Replace(deploymentYAML("moved", 2, "moved:1"), "      containers:\n",
		"      nodeSelector: {images-test: target}\n      containers:\n", 1)
	manifest = strings.Replace(manifest, "        image: moved:1\n", "        image: moved:1\n        imagePullPolicy: IfNotPresent\n", 1)
	if _, errOut, err := h1.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	var onNodes []string
	took := poll.Until(t, 120*time.Second, "2 pods of moved:1 ready on h2 and h3", func() error {
		pods := h1.pods(t, "default", "app=moved")
		onNodes = nil
		for _, p := range pods {
			onNodes = append(onNodes, p.Spec.NodeName)
		}
		slices.Sort(onNodes)
		if readyPods(pods) != 2 || !slices.Equal(onNodes, []string{"h2", "h3"}) {
			return fmt.Errorf("%s", podFingerprint(pods))
		}
		return nil
	})
	t.Logf("moved:1 ran on h2 and h3 %s after the apply", took.Round(100*time.Millisecond))
	for _, i := range []int{2, 3} {
		if got := c.docker(i, "image", "inspect", "-f", "{{.Id}}", "moved:1"); got != id {
			t.Errorf("h%d holds moved:1 as %s, want %s", i, got, id)
		}
	}
	// The pods' events say where the image came from.
	events := h1.shoal("get", "events", "-o", "json")
	if !strings.Contains(events, `copied image \"moved:1\" from node h1`) {
		t.Errorf("no event tells of the copy from h1:\n%s", tailLines(events, 40))
	}
	poll.Until(t, 30*time.Second, "image ls shows moved:1 on h1, h2, h3", func() error {
		if got, nodes := imageHosts(t, h1, "moved:1"); got != id || !slices.Equal(nodes, []string{"h1", "h2", "h3"}) {
			return fmt.Errorf("image ls: %s on %v", got, nodes)
		}
		return nil
	})

	// push-to-hosts places another image on h3 only, ahead of any pod.
	id2 := c.buildOn(1, "moved:2", "second "+randomSuffix())
	poll.Until(t, 30*time.Second, "h1 reports moved:2", func() error {
		if got, _ := imageHosts(t, h1, "moved:2"); got != id2 {
			return fmt.Errorf("image ls: %s", got)
		}
		return nil
	})
	out := c.agent(2).shoal("image", "push-to-hosts", "moved:2", "--nodes", "h3")
	if !strings.Contains(out, "h3: moved:2 copied from h1") {
		t.Fatalf("push-to-hosts: %s", out)
	}
	if got := c.docker(3, "image", "inspect", "-f", "{{.Id}}", "moved:2"); got != id2 {
		t.Fatalf("h3 holds moved:2 as %s, want %s", got, id2)
	}
	if _, err := c.agent(2).dockerIn("image", "inspect", "moved:2"); err == nil {
		t.Fatal("h2 got moved:2, which it was not asked to hold")
	}
	poll.Until(t, 30*time.Second, "image ls shows moved:2 on h1 and h3", func() error {
		if _, nodes := imageHosts(t, h1, "moved:2"); !slices.Equal(nodes, []string{"h1", "h3"}) {
			return fmt.Errorf("image ls: %v", nodes)
		}
		return nil
	})
	if out := h1.shoal("image", "push-to-hosts", "moved:2", "--nodes", "h3"); !strings.Contains(out, "h3: moved:2 already present") {
		t.Errorf("a second push: %s", out)
	}

	// The save endpoint answers agents only.
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodGet, "https://10.213.0.11:7481/shoal/v1/internal/images/save?id="+id, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken(t, h1))
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "node certificate") {
		t.Errorf("the save endpoint without a node certificate: %d %s", resp.StatusCode, b)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
