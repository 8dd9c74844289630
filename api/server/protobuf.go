package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/shoal-dev/shoal/api"
)

// protobufType is the wire format client-go's generated clients send the
// built-in kinds in by default.
const protobufType = "application/vnd.kubernetes.protobuf"

// protobufDecoder reads Kubernetes' protobuf encoding of the kinds shoal
// serves (and the options sent with them, such as DeleteOptions), with
// the types of k8s.io/api.
var protobufDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, rbacv1.AddToScheme, autoscalingv1.AddToScheme, autoscalingv2.AddToScheme,
		authorizationv1.AddToScheme, authenticationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err) // the scheme is built from constant inputs
		}
	}
	return protobuf.NewSerializer(scheme, scheme)
}()

// protobufBodyAsJSON turns a protobuf request body into the JSON the
// handlers read, so that a client-go program with the default content type
// writes as one that sends JSON does. Other bodies pass unchanged.
func (s *Server) protobufBodyAsJSON(w http.ResponseWriter, r *http.Request) (*http.Request, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != protobufType || r.Body == nil {
		return r, nil
	}
	body, err := readBodyWithin(w, r, s.cfg.MaxBodyBytes, s.cfg.Limits.BodyTimeout)
	if err != nil {
		return r, err
	}
	j, err := protobufToJSON(body)
	if err != nil {
		return r, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(j))
	r2.ContentLength = int64(len(j))
	r2.Header.Set("Content-Type", "application/json")
	return r2, nil
}

// protobufToJSON decodes one protobuf-encoded object and encodes it as
// JSON, with its apiVersion and kind.
func protobufToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return body, nil
	}
	obj, gvk, err := protobufDecoder.Decode(body, nil, nil)
	if err != nil {
		return nil, api.NewBadRequest(fmt.Sprintf("the protobuf body could not be decoded (%v); send it as JSON with Content-Type application/json", err))
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, api.NewInternal(fmt.Errorf("encoding a protobuf body as JSON: %w", err))
	}
	return j, nil
}
