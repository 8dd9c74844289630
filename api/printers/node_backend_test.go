package printers

import (
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func TestNodeBackend(t *testing.T) {
	for _, tc := range []struct {
		ann  map[string]string
		want string
	}{
		{nil, "host-gw"},
		{map[string]string{api.AnnotationPodNetworkBackend: "auto"}, "<none>"},
		{map[string]string{api.AnnotationPodNetworkBackend: "auto", api.AnnotationBackendsInUse: "host-gw,vxlan"}, "host-gw,vxlan"},
	} {
		if got := NodeBackend(&api.Node{ObjectMeta: api.ObjectMeta{Annotations: tc.ann}}); got != tc.want {
			t.Errorf("NodeBackend(%v) = %q, want %q", tc.ann, got, tc.want)
		}
	}
}
