package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func imgID(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// imagesFixture: h1 built web:1 and holds the test app; h2 got web:1;
// h3 is not ready; h4 holds only the test app.
func imagesFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	web := api.ContainerImage{Names: []string{imgID(1), "web:1"}, SizeBytes: 104857600}
	app := api.ContainerImage{Names: []string{"shoal-testapp@sha256:" + fmt.Sprintf("%064x", 9), imgID(2), "shoal-testapp:v1"}, SizeBytes: 9437184}
	with := func(n *api.Node, imgs ...api.ContainerImage) *api.Node {
		n.Status.Images = imgs
		return n
	}
	srv.Add(
		with(node("h1", "10.213.0.11", "True", "2", "4Gi", time.Hour), web, app),
		with(node("h2", "10.213.0.12", "True", "2", "4Gi", time.Hour), web),
		with(node("h3", "10.213.0.13", "False", "2", "4Gi", time.Hour)),
		with(node("h4", "10.213.0.14", "True", "2", "4Gi", time.Hour), app),
	)
	return srv
}

func TestImageLsShowsWhichHostsHoldWhichImages(t *testing.T) {
	r := shoal(t, imagesFixture(t), "", "image", "ls")
	expectOK(t, r)
	want := `IMAGE              ID             SIZE    NODES
shoal-testapp:v1   000000000000   9Mi     h1,h4
web:1              000000000000   100Mi   h1,h2
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, imagesFixture(t), "", "image", "ls", "web:1", "-o", "json")
	expectOK(t, r)
	var l imageRowList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].ID != imgID(1) || !slices.Equal(l.Items[0].Nodes, []string{"h1", "h2"}) {
		t.Fatalf("items %+v", l.Items)
	}
}

func TestImagePushToHostsAsksEveryReadyNodeThatLacksTheImage(t *testing.T) {
	srv := imagesFixture(t)
	var mu sync.Mutex
	var asked []string
	srv.SetPlaceImage(func(node, image string) (*api.NodeImageResult, error) {
		mu.Lock()
		asked = append(asked, node+"="+image)
		mu.Unlock()
		return &api.NodeImageResult{Node: node, Image: image, ImageID: imgID(1), Source: "h1", Bytes: 104857600, Seconds: 1.5}, nil
	})
	r := shoal(t, srv, "", "image", "push-to-hosts", "web:1")
	expectOK(t, r)
	if !slices.Equal(asked, []string{"h4=web:1"}) {
		t.Fatalf("asked %v, want only h4 (h1, h2 hold it, h3 is not ready)", asked)
	}
	if r.stdout != "h4: web:1 copied from h1 (100Mi in 1.5s)\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	asked = nil
	r = shoal(t, srv, "", "image", "push-to-hosts", "web:1", "--nodes", "h3,h2")
	expectOK(t, r)
	slices.Sort(asked)
	if !slices.Equal(asked, []string{"h2=web:1", "h3=web:1"}) {
		t.Fatalf("asked %v, want the named nodes", asked)
	}
}

func TestImagePushToHostsRefusesWhatItCannotDo(t *testing.T) {
	srv := imagesFixture(t)
	srv.SetPlaceImage(func(node, image string) (*api.NodeImageResult, error) {
		return nil, api.NewUnavailable("fetch web:1 from peers: from h1: connection refused")
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nothing:1"}, `no node reports image "nothing:1"`},
		{[]string{"web:1", "--nodes", "h9"}, `--nodes: no node is named "h9"`},
		{[]string{"web:1"}, "h4: failed: fetch web:1 from peers: from h1: connection refused"},
	} {
		r := shoal(t, srv, "", append([]string{"image", "push-to-hosts"}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr+r.stdout, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want a failure saying %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
