package registry_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// BenchmarkWrites measures the registry's writes of a Deployment and of a
// pod status on an in-memory store: what every write pays for the field
// stamps of the merge. The same file runs on an older tree as a baseline
// (docs/consistency.md gives the ratios).
func BenchmarkWrites(b *testing.B) {
	ctx := context.Background()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	o := registry.New(st)
	if _, err := o.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := o.Create(ctx, benchDeployment("web", 3)); err != nil {
		b.Fatal(err)
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "app", Image: "img:v1"}, {Name: "side", Image: "side:v1"}}}}
	if _, err := o.Create(ctx, pod); err != nil {
		b.Fatal(err)
	}
	created := 0
	b.Run("create", func(b *testing.B) {
		for range b.N {
			created++
			if _, err := o.Create(ctx, benchDeployment(fmt.Sprintf("d-%d", created), 2)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		for i := range b.N {
			obj, err := o.Get(ctx, api.KindDeployment, "default", "web")
			if err != nil {
				b.Fatal(err)
			}
			d := obj.(*api.Deployment)
			d.Spec.Replicas = api.Int32(int32(i%7 + 1))
			if _, err := o.Update(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status", func(b *testing.B) {
		for i := range b.N {
			obj, err := o.Get(ctx, api.KindPod, "default", "p")
			if err != nil {
				b.Fatal(err)
			}
			p := obj.(*api.Pod)
			p.Status.Phase = api.PodRunning
			p.Status.Message = fmt.Sprint(i)
			p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "app", Image: "img:v1", RestartCount: int32(i)}, {Name: "side", Image: "side:v1"}}
			if _, err := o.UpdateStatus(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchDeployment(name string, replicas int32) *api.Deployment {
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img:v1",
					Env: []api.EnvVar{{Name: "MODE", Value: "fast"}}, Ports: []api.ContainerPort{{ContainerPort: 8080}}}}},
			},
		},
	}
}
