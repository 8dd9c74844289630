package server_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/shoal-dev/shoal/api"
)

// client-go's generated clients send the built-in kinds as protobuf: the
// server takes them as it takes JSON; a body that is not protobuf is a 400.
func TestProtobufBodyIsAccepted(t *testing.T) {
	ts, objs := newServer(t)
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "pb"}, Data: map[string]string{"k": "v"}}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme, scheme).Encode(cm, &buf); err != nil {
		t.Fatal(err)
	}
	coll := ts.URL + "/api/v1/namespaces/default/configmaps"
	resp, b := do(t, http.MethodPost, coll, "application/vnd.kubernetes.protobuf", buf.String())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create from protobuf: %d %s", resp.StatusCode, b)
	}
	got, err := objs.Get(context.Background(), api.KindConfigMap, "default", "pb")
	if err != nil || got.(*api.ConfigMap).Data["k"] != "v" {
		t.Fatalf("stored %+v, %v", got, err)
	}
	resp, b = do(t, http.MethodPost, coll, "application/vnd.kubernetes.protobuf", `{"kind":"ConfigMap"}`)
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("protobuf")) {
		t.Fatalf("a JSON body sent as protobuf: %d %s", resp.StatusCode, b)
	}
}
