package cli

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func networkFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	srv.Add(serviceFixture()...)
	srv.Add(
		newEndpoints("front", api.EndpointSubset{Addresses: epAddrs("10.244.1.2", "10.244.2.3"), NotReadyAddresses: epAddrs("10.244.3.4"),
			Ports: []api.EndpointPort{epPort("http", 8080), epPort("https", 8443)}}),
		newEndpoints("web", api.EndpointSubset{Addresses: epAddrs("10.244.1.5"), Ports: []api.EndpointPort{epPort("", 8080)}}),
	)
	return srv
}

func TestDescribeService(t *testing.T) {
	srv := networkFixture(t)
	srv.Add(&api.Event{ObjectMeta: api.ObjectMeta{Name: "e1", Namespace: "default"}, Type: api.EventNormal,
		Reason: "NodePortAllocated", Message: "node port 30080 for port http",
		InvolvedObject: api.ObjectReference{Kind: "Service", Name: "front", Namespace: "default"},
		Source:         api.EventSource{Component: "shoal-agent"}, LastTimestamp: ago(9 * time.Minute)})
	r := shoal(t, srv, "", "describe", "svc", "front")
	expectOK(t, r)
	want := `Name:              front
Namespace:         default
Labels:            app=front
Annotations:       <none>
Selector:          app=front
Type:              NodePort
IP:                10.96.4.2
IPs:               10.96.4.2
Port:              http  80/TCP
TargetPort:        http/TCP
NodePort:          http  30080/TCP
Endpoints:         10.244.1.2:8080,10.244.2.3:8080
Port:              https  443/TCP
TargetPort:        8443/TCP
NodePort:          https  30443/TCP
Endpoints:         10.244.1.2:8443,10.244.2.3:8443
Session Affinity:  None
Events:
  Type    Reason             Age   From         Message
  ----    ------             ----  ----         -------
  Normal  NodePortAllocated  9m    shoal-agent  node port 30080 for port http
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	var gotEndpoints bool
	for _, q := range srv.Requests() {
		gotEndpoints = gotEndpoints || q.Path == "/api/v1/namespaces/default/endpoints/front"
	}
	if !gotEndpoints {
		t.Fatal("the endpoints of the service were not read")
	}
}

func TestDescribeServicesWithoutEndpoints(t *testing.T) {
	// db has no Endpoints object yet; ext is an ExternalName service.
	r := shoal(t, networkFixture(t), "", "describe", "svc", "ext", "db")
	expectOK(t, r)
	want := `Name:              ext
Namespace:         default
Labels:            app=ext
Annotations:       <none>
Selector:          <none>
Type:              ExternalName
IP:                
External Name:     db.example.com
Session Affinity:  None
Events:            <none>

Name:              db
Namespace:         default
Labels:            app=db
Annotations:       <none>
Selector:          app=db
Type:              ClusterIP
IP:                None
IPs:               None
Port:              <unset>  5432/TCP
TargetPort:        5432/TCP
Endpoints:         <none>
Session Affinity:  None
Events:            <none>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestDescribeEndpoints(t *testing.T) {
	r := shoal(t, networkFixture(t), "", "describe", "endpoints", "front")
	expectOK(t, r)
	want := `Name:         front
Namespace:    default
Labels:       <none>
Annotations:  <none>
Subsets:
  Addresses:          10.244.1.2,10.244.2.3
  NotReadyAddresses:  10.244.3.4
  Ports:
    Name   Port  Protocol
    ----   ----  --------
    http   8080  TCP
    https  8443  TCP

Events:  <none>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestDescribeIngress(t *testing.T) {
	srv := networkFixture(t)
	shop := newIngress("shop", "shoal", ingRule("shop.example.com", ingPath("/", "web", 80, ""), ingPath("/api", "front", 0, "https")),
		ingRule("", ingPath("/old", "gone", 8080, ""), ingPath("/older", "gone", 8080, "")))
	shop.Spec.TLS = []api.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}, {Hosts: []string{"a.example.com", "b.example.com"}}}
	shop.Annotations = map[string]string{"team": "shop"}
	fallback := newIngress("fallback", "")
	fallback.Spec.DefaultBackend = &api.IngressBackend{Service: &api.IngressServiceBackend{Name: "web", Port: api.ServiceBackendPort{Number: 80}}}
	srv.Add(shop, fallback)
	r := shoal(t, srv, "", "describe", "ing", "shop", "fallback")
	expectOK(t, r)
	want := `Name:             shop
Labels:           <none>
Namespace:        default
Address:          
Ingress Class:    shoal
Default backend:  <default>
TLS:
  shop-tls terminates shop.example.com
  SNI routes a.example.com,b.example.com
Rules:
  Host              Path  Backends
  ----              ----  --------
  shop.example.com  
                    /      web:80 (10.244.1.5:8080)
                    /api   front:https (10.244.1.2:8443,10.244.2.3:8443)
  *                 
                    /old     gone:8080 (<error: endpoints "gone" not found>)
                    /older   gone:8080 (<error: endpoints "gone" not found>)
Annotations:        team=shop
Events:             <none>

Name:             fallback
Labels:           <none>
Namespace:        default
Address:          
Ingress Class:    <none>
Default backend:  web:80 (10.244.1.5:8080)
Rules:
  Host        Path  Backends
  ----        ----  --------
  *           *     web:80 (10.244.1.5:8080)
Annotations:  <none>
Events:       <none>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	// Each backend service and its endpoints are read once per ingress.
	reads := map[string]int{}
	for _, q := range srv.Requests() {
		reads[q.Path]++
	}
	if n := reads["/api/v1/namespaces/default/endpoints/web"]; n != 2 {
		t.Errorf("endpoints of web read %d times, want once per ingress", n)
	}
	if n := reads["/api/v1/namespaces/default/endpoints/gone"]; n != 1 {
		t.Errorf("endpoints of gone read %d times, want once", n)
	}
}
