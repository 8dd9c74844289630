package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

const pullCompose = `name: shop
services:
  db:
    image: img:db
  web:
    image: img:web
`

// up pulls, before it applies anything, the images no host holds (one
// ready host pulls, the others copy from it); an image that no host holds
// and none can pull refuses the whole up, naming the service and the
// image, with nothing created.
func TestComposeUpPullsWhatNoHostHolds(t *testing.T) {
	srv := clienttest.NewServer(t)
	h1 := node("h1", "10.0.0.1", api.ConditionTrue, "2", "4Gi", time.Hour)
	h1.Status.Images = []api.ContainerImage{{Names: []string{"img:db"}}}
	h2 := node("h2", "10.0.0.2", api.ConditionFalse, "2", "4Gi", time.Hour)
	srv.Add(h1, h2)
	var asked []string
	srv.SetPlaceImage(func(node, image string) (*api.NodeImageResult, error) {
		asked = append(asked, node+" "+image)
		if image == "img:web" {
			return &api.NodeImageResult{Node: node, Image: image, ImageID: "sha256:" + strings.Repeat("a", 64), Source: "registry"}, nil
		}
		return nil, api.NewStatusError(404, api.ReasonNotFound, `image "`+image+`": no node holds it and node h1 could not pull it from its registry: pull access denied`)
	})
	dir := writeProject(t, map[string]string{"compose.yaml": pullCompose})
	r := shoal(t, srv, "", "compose", "-f", filepath.Join(dir, "compose.yaml"), "up", "-d")
	expectOK(t, r)
	if strings.Join(asked, ";") != "h1 img:web" || !strings.Contains(r.stdout, "web: pulling img:web (node h1)") {
		t.Fatalf("asked %q (only web's image, of the ready node); output:\n%s", asked, r.stdout)
	}
	var pullAsked bool
	for _, req := range srv.Requests() {
		if req.Method == "POST" && req.Path == "/api/v1/nodes/h1/images" {
			pullAsked = strings.Contains(string(req.Body), `"pull":true`)
		}
	}
	if !pullAsked {
		t.Error("the request did not allow a registry pull")
	}

	asked = nil
	bad := writeProject(t, map[string]string{"compose.yaml": "name: other\nservices:\n  api:\n    image: nosuch:1\n"})
	r = shoal(t, srv, "", "compose", "-f", filepath.Join(bad, "compose.yaml"), "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `service api: image "nosuch:1"`) || !strings.Contains(r.stderr, "could not pull it") {
		t.Fatalf("an image nobody has was accepted: %d %s", r.code, r.stderr)
	}
	if srv.Object(api.KindNamespace, "", "other") != nil {
		t.Error("the refused project created its namespace")
	}

	never := writeProject(t, map[string]string{"compose.yaml": "name: third\nservices:\n  api:\n    image: local:1\n    pull_policy: never\n"})
	r = shoal(t, srv, "", "compose", "-f", filepath.Join(never, "compose.yaml"), "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `service api: image "local:1": no host holds it and its pull_policy (never) forbids pulling it`) ||
		srv.Object(api.KindNamespace, "", "third") != nil {
		t.Fatalf("pull_policy never with no host holding the image: %d %s", r.code, r.stderr)
	}
}
