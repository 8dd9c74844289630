package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// patchDeployment is the Deployment of the patch test as its file gives it.
func patchDeployment(image, mode string, ports ...int32) *appsv1.Deployment {
	var cp []corev1.ContainerPort
	for _, p := range ports {
		cp = append(cp, corev1.ContainerPort{Name: fmt.Sprintf("p%d", p), ContainerPort: p})
	}
	labels := map[string]string{"app": "patched"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "patched", Namespace: "default", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(2)),
					Containers: []corev1.Container{{
						Name: "app", Image: image, Args: []string{"serve", "--port", "8080"},
						Env:   []corev1.EnvVar{{Name: "MODE", Value: mode}, {Name: "LEVEL", Value: "info"}},
						Ports: cp,
					}},
				},
			},
		},
	}
}

// TestClientGoPatchesADeploymentOnARealAgent runs client-go on the agent's
// admin.kubeconfig: it creates a Deployment the way kubectl apply does
// (with the last-applied annotation), patches it with the three-way
// strategic merge patch kubectl apply computes for an edited file (a new
// image, one env var changed, a port removed) and then with a JSON patch,
// and checks the stored object and the running pods; then it deletes the
// Deployment orphaning its ReplicaSet, whose pods keep running, and the
// ReplicaSet in the foreground, whose pods are terminating when the
// delete answers.
func TestClientGoPatchesADeploymentOnARealAgent(t *testing.T) {
	a := startAgent(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	// The typed clients default to protobuf, which shoal does not speak.
	cfg.ContentType = "application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	deps := cs.AppsV1().Deployments("default")

	annotate := func(d *appsv1.Deployment) (file, withAnnotation []byte, obj *appsv1.Deployment) {
		file, _ = json.Marshal(d)
		obj = d.DeepCopy()
		obj.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(file)}
		withAnnotation, _ = json.Marshal(obj)
		return file, withAnnotation, obj
	}
	original, _, obj := annotate(patchDeployment(testImage, "blue", 8080, 9090))
	if _, err := deps.Create(c, obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	podsWith := func(image, mode string, ports int) func() error {
		return func() error {
			pods := a.pods(t, "default", "app=patched")
			if len(pods) != 1 || readyPods(pods) != 1 {
				return fmt.Errorf("%d pods, %d ready", len(pods), readyPods(pods))
			}
			ct := pods[0].Spec.Containers[0]
			env := map[string]string{}
			for _, e := range ct.Env {
				env[e.Name] = e.Value
			}
			if ct.Image != image || env["MODE"] != mode || env["LEVEL"] != "info" || len(ct.Ports) != ports {
				return fmt.Errorf("pod runs %s with env %v and %d ports", ct.Image, env, len(ct.Ports))
			}
			return nil
		}
	}
	poll.Until(t, 60*time.Second, "one ready pod of v1", podsWith(testImage, "blue", 2))

	live, err := deps.Get(c, "patched", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	current, _ := json.Marshal(live)
	editedFile, modified, _ := annotate(patchDeployment(testImageV2, "green", 8080))
	meta, err := strategicpatch.NewPatchMetaFromStruct(appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := deps.Patch(c, "patched", types.StrategicMergePatchType, p, metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("strategic merge patch %s: %v", p, err)
	}
	ct := got.Spec.Template.Spec.Containers
	if len(ct) != 1 || ct[0].Image != testImageV2 || len(ct[0].Env) != 2 || ct[0].Env[0].Value != "green" ||
		len(ct[0].Ports) != 1 || ct[0].Ports[0].ContainerPort != 8080 ||
		got.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != string(editedFile) {
		t.Fatalf("after the patch %s: %+v", p, got.Spec.Template.Spec)
	}
	poll.Until(t, 60*time.Second, "the rollout to v2 with MODE=green and one port", podsWith(testImageV2, "green", 1))

	// A JSON patch: two replicas, the env var LEVEL changed.
	jp := `[{"op":"test","path":"/spec/template/spec/containers/0/env/1/name","value":"LEVEL"},
	{"op":"replace","path":"/spec/replicas","value":2},
	{"op":"replace","path":"/spec/template/spec/containers/0/env/1/value","value":"debug"}]`
	if got, err = deps.Patch(c, "patched", types.JSONPatchType, []byte(jp), metav1.PatchOptions{}); err != nil {
		t.Fatalf("JSON patch: %v", err)
	}
	if *got.Spec.Replicas != 2 || got.Spec.Template.Spec.Containers[0].Env[1].Value != "debug" {
		t.Fatalf("after the JSON patch: replicas %d env %+v", *got.Spec.Replicas, got.Spec.Template.Spec.Containers[0].Env)
	}
	poll.Until(t, 60*time.Second, "two ready pods with LEVEL=debug", func() error {
		pods := a.pods(t, "default", "app=patched")
		n := 0
		for _, p := range pods {
			for _, e := range p.Spec.Containers[0].Env {
				if e.Name == "LEVEL" && e.Value == "debug" && p.DeletionTimestamp == nil && api.IsPodReady(p) {
					n++
				}
			}
		}
		if n != 2 || len(pods) != 2 {
			return fmt.Errorf("%d pods, %d ready with LEVEL=debug", len(pods), n)
		}
		return nil
	})

	// Delete orphaning the ReplicaSet: it and its pods stay. A watch
	// started before the delete sees none of them go.
	sel, _ := api.ParseSelector("app=patched")
	wctx, stopWatch := context.WithCancel(c)
	defer stopWatch()
	var events []<-chan api.WatchEvent
	for _, k := range []*api.Kind{api.KindPod, api.KindReplicaSet} {
		ch, err := a.client.Watch(wctx, k, "default", api.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ch)
	}
	orphan := metav1.DeletePropagationOrphan
	if err := deps.Delete(c, "patched", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	sets, err := cs.AppsV1().ReplicaSets("default").List(c, metav1.ListOptions{LabelSelector: "app=patched"})
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, rs := range sets.Items {
		if len(rs.OwnerReferences) != 0 {
			t.Fatalf("ReplicaSet %s still names an owner: %+v", rs.Name, rs.OwnerReferences)
		}
		if *rs.Spec.Replicas == 2 {
			kept++
		}
	}
	if kept != 1 {
		t.Fatalf("%d ReplicaSets of 2 replicas left, want 1", kept)
	}
	// The garbage collector acts on an owner's deletion as it sees it:
	// nothing of the orphans may go while it has had several seconds.
	quiet := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-events[0]:
			if !ok {
				t.Fatal("the pod watch ended")
			}
			if ev.Type == api.Deleted || ev.Object != nil && ev.Object.GetObjectMeta().DeletionTimestamp != nil {
				t.Fatalf("an orphaned pod is going: %s %s", ev.Type, ev.Object.GetObjectMeta().Name)
			}
		case ev, ok := <-events[1]:
			if !ok {
				t.Fatal("the ReplicaSet watch ended")
			}
			if ev.Type == api.Deleted {
				t.Fatalf("the orphaned ReplicaSet was deleted")
			}
		case <-quiet:
			done = true
		}
	}
	if pods := a.pods(t, "default", "app=patched"); readyPods(pods) != 2 {
		t.Fatalf("the orphaned ReplicaSet's pods: %d ready of %d", readyPods(pods), len(pods))
	}

	// A foreground delete of the orphaned ReplicaSet: when it answers,
	// the ReplicaSet is still there, being deleted with the finalizer
	// foregroundDeletion, and its pods are already terminating; their
	// containers then stop, and the ReplicaSet goes after them.
	var rsName string
	for _, rs := range sets.Items {
		if *rs.Spec.Replicas == 2 {
			rsName = rs.Name
		}
	}
	foreground := metav1.DeletePropagationForeground
	if err := cs.AppsV1().ReplicaSets("default").Delete(c, rsName, metav1.DeleteOptions{PropagationPolicy: &foreground}); err != nil {
		t.Fatal(err)
	}
	if rs, err := cs.AppsV1().ReplicaSets("default").Get(c, rsName, metav1.GetOptions{}); err == nil {
		if rs.DeletionTimestamp == nil || !slices.Contains(rs.Finalizers, metav1.FinalizerDeleteDependents) {
			t.Fatalf("the ReplicaSet after its foreground delete: deletionTimestamp %v, finalizers %v", rs.DeletionTimestamp, rs.Finalizers)
		}
	} else if !apierrors.IsNotFound(err) { // its pods may all be gone already
		t.Fatal(err)
	}
	for _, p := range a.pods(t, "default", "app=patched") {
		if p.DeletionTimestamp == nil {
			t.Fatalf("pod %s is not terminating after its owner's foreground delete", p.Name)
		}
	}
	poll.Until(t, 30*time.Second, "the pods, their containers and the ReplicaSet gone", func() error {
		if _, err := cs.AppsV1().ReplicaSets("default").Get(c, rsName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the ReplicaSet: %v", err)
		}
		if pods := a.pods(t, "default", "app=patched"); len(pods) != 0 {
			return fmt.Errorf("%d pods left", len(pods))
		}
		if apps := runningApps(t, a.name); len(apps) != 0 {
			return fmt.Errorf("%d containers running", len(apps))
		}
		return nil
	})
}
