package server

import (
	"net/http"
	"testing"
)

func TestNegotiateTable(t *testing.T) {
	const (
		v1      = "application/json;as=Table;v=v1;g=meta.k8s.io"
		v1beta1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
	)
	for _, tc := range []struct {
		accept, want string
	}{
		{"", ""},
		{"application/json", ""},
		{"*/*", ""},
		{v1, "v1"},
		{v1beta1, "v1beta1"},
		// kubectl get's header: the first choice wins.
		{v1 + "," + v1beta1 + ",application/json", "v1"},
		{v1beta1 + ", " + v1 + ", application/json", "v1beta1"},
		// Choices shoal cannot give are passed over.
		{"application/json;as=Table;v=v2;g=meta.k8s.io," + v1beta1, "v1beta1"},
		{"application/json;as=Table;v=v1;g=example.com," + v1, "v1"},
		{"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", ""},
		{"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json", ""},
		{"application/yaml," + v1, "v1"},
		{"application/json;as=Foo;v=v1;g=meta.k8s.io", ""},
		// q orders the choices; q=0 refuses one.
		{"application/json;q=0.5," + v1, "v1"},
		{v1 + ";q=0,application/json", ""},
		{v1 + ";q=0.9,application/json;q=0.8", "v1"},
		// A spoilt choice is left out, not a failure.
		{"application/json;as=\"Table," + v1, "v1"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/api/v1/pods", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := negotiateTable(r); got != tc.want {
			t.Errorf("Accept %q: got %q, want %q", tc.accept, got, tc.want)
		}
	}
}
