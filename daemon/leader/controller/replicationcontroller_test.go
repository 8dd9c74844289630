package controller

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
)

func getRC(t *testing.T, store testStore, name string) *api.ReplicationController {
	t.Helper()
	o, err := store.Get(t.Context(), api.KindReplicationController, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.ReplicationController)
}

// A ReplicationController is kept by the ReplicaSet controller's code: its
// pods are made from the template, owned by it, replaced, scaled and counted.
func TestReplicationControllerKeepsReplicasAndStatus(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	tmpl := podTemplate("web", "img:v1")
	// No selector: defaulting takes the template's labels, as Kubernetes does.
	rc := mustCreate(t, store, &api.ReplicationController{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       api.ReplicationControllerSpec{Replicas: api.Int32(3), Template: &tmpl},
	}).(*api.ReplicationController)
	if rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" {
		t.Fatalf("selector and labels not defaulted from the template: %v %v", rc.Spec.Selector, rc.Labels)
	}
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	poll.True(t, 5*time.Second, "3 pods", func() (bool, string) {
		pods := listPods(t, store, sel)
		return len(pods) == 3, describePods(pods)
	})
	pods := listPods(t, store, sel)
	for _, p := range pods {
		if ref := p.ControllerRef(); ref == nil || ref.Kind != "ReplicationController" || ref.UID != rc.UID || ref.APIVersion != "v1" {
			t.Fatalf("pod %s not owned by the ReplicationController: %+v", p.Name, p.OwnerReferences)
		}
	}
	setPodStatus(t, store, pods[0], api.PodRunning, true, 0)
	setPodStatus(t, store, pods[1], api.PodRunning, true, 0)
	poll.True(t, 5*time.Second, "status 3 replicas, 2 ready", func() (bool, string) {
		st := getRC(t, store, "web").Status
		return st.Replicas == 3 && st.ReadyReplicas == 2 && st.FullyLabeledReplicas == 3 && st.ObservedGeneration == 1, ""
	})

	// A deleted pod is replaced.
	deleted := pods[2].Name
	if _, err := store.Delete(t.Context(), api.KindPod, "default", deleted, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "a replacement", func() (bool, string) {
		pods := listPods(t, store, sel)
		for _, p := range pods {
			if p.Name == deleted {
				return false, "the deleted pod is still there"
			}
		}
		return len(activePods(pods)) == 3, describePods(pods)
	})

	// Scaled down, it deletes the least useful (unready) pods first.
	rc = getRC(t, store, "web")
	rc.Spec.Replicas = api.Int32(2)
	if _, err := store.Update(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "2 pods, the ready ones", func() (bool, string) {
		pods := activePods(listPods(t, store, sel))
		for _, p := range pods {
			if !api.IsPodReady(p) {
				return false, describePods(pods)
			}
		}
		return len(pods) == 2, describePods(pods)
	})
}
