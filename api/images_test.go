package api

import (
	"fmt"
	"strings"
	"testing"
)

func TestNodeImagesAreBounded(t *testing.T) {
	id := fmt.Sprintf("sha256:%064x", 1)
	node := func(images ...ContainerImage) *Node {
		return &Node{ObjectMeta: ObjectMeta{Name: "h1"}, Status: NodeStatus{Images: images}}
	}
	if err := Validate(node(ContainerImage{Names: []string{id, "web:1"}, SizeBytes: 10})); err != nil {
		t.Fatalf("a valid image list: %v", err)
	}
	many := make([]ContainerImage, MaxNodeImages+1)
	for i := range many {
		many[i] = ContainerImage{Names: []string{id}}
	}
	names := make([]string, 33)
	for i := range names {
		names[i] = "x"
	}
	for _, tc := range []struct {
		node *Node
		want string
	}{
		{node(many...), "status.images"},
		{node(ContainerImage{}), "status.images[0].names"},
		{node(ContainerImage{Names: names}), "status.images[0].names"},
		{node(ContainerImage{Names: []string{"a b"}}), "status.images[0].names[0]"},
		{node(ContainerImage{Names: []string{strings.Repeat("a", 513)}}), "status.images[0].names[0]"},
		{node(ContainerImage{Names: []string{id}, SizeBytes: -1}), "status.images[0].sizeBytes"},
	} {
		err := Validate(tc.node)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want an error naming %s", err, tc.want)
		}
	}
}
