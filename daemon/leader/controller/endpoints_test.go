package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func endpointsOf(t *testing.T, store testStore, name string) *api.Endpoints {
	o, err := store.Get(context.Background(), api.KindEndpoints, "default", name)
	if err != nil {
		return nil
	}
	return o.(*api.Endpoints)
}

func servedPod(t *testing.T, store testStore, name, ip string, ready bool) *api.Pod {
	t.Helper()
	p := mustCreate(t, store, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "app", Image: "img:1",
			Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}).(*api.Pod)
	p.Status = runningStatus(api.PodRunning, ready, 0, time.Now())
	p.Status.PodIP = ip
	if _, err := store.UpdateStatus(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEndpointsFollowReadyPods(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	mustCreate(t, store, &api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Name: "web", Port: 80, TargetPort: api.FromString("http")}}}})
	servedPod(t, store, "a", "10.244.1.2", true)
	b := servedPod(t, store, "b", "10.244.2.2", false)
	poll.True(t, 5*time.Second, "a ready and b not", func() (bool, string) {
		ep := endpointsOf(t, store, "web")
		if ep == nil || len(ep.Subsets) != 1 {
			return false, fmt.Sprintf("%+v", ep)
		}
		s := ep.Subsets[0]
		ok := len(s.Addresses) == 1 && s.Addresses[0].IP == "10.244.1.2" && len(s.NotReadyAddresses) == 1 &&
			s.NotReadyAddresses[0].IP == "10.244.2.2" && s.Ports[0].Port == 8080 && s.Ports[0].Name == "web"
		return ok, fmt.Sprintf("%+v", s)
	})
	b.Status = runningStatus(api.PodRunning, true, 0, time.Now())
	b.Status.PodIP = "10.244.2.2"
	store.UpdateStatus(context.Background(), b)
	poll.True(t, 5*time.Second, "both ready", func() (bool, string) {
		ep := endpointsOf(t, store, "web")
		return ep != nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 2, fmt.Sprintf("%+v", ep)
	})
	store.Delete(context.Background(), api.KindPod, "default", "a", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)})
	poll.True(t, 5*time.Second, "a gone", func() (bool, string) {
		ep := endpointsOf(t, store, "web")
		return ep != nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].IP == "10.244.2.2",
			fmt.Sprintf("%+v", ep)
	})
	store.Delete(context.Background(), api.KindService, "default", "web", api.DeleteOptions{})
	poll.True(t, 10*time.Second, "endpoints deleted with their service", func() (bool, string) {
		return endpointsOf(t, store, "web") == nil, "still there"
	})
}

func TestSelectorlessServiceEndpointsAreLeftAlone(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	mustCreate(t, store, &api.Service{ObjectMeta: api.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Port: 5432}}}})
	mustCreate(t, store, &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "ext", Namespace: "default"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []api.EndpointPort{{Port: 5432}}}}})
	time.Sleep(300 * time.Millisecond)
	ep := endpointsOf(t, store, "ext")
	if ep == nil || ep.Subsets[0].Addresses[0].IP != "192.0.2.10" {
		t.Fatalf("user endpoints changed: %+v", ep)
	}
}
