package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func quantities(cpu, mem string) api.ResourceList {
	return api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(mem)}
}

func TestTop(t *testing.T) {
	srv := clienttest.NewServer(t)
	api1 := running("api-1", "default", ago(time.Hour))
	api1.Labels = map[string]string{"app": "api"}
	srv.Add(running("web-1", "default", ago(time.Hour)), api1,
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "h1"}, Status: api.NodeStatus{Allocatable: quantities("2", "4Gi")}})
	now := api.NewTime(fixedNow)
	srv.SetMetrics([]api.PodMetrics{
		{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default"}, Timestamp: now, Window: "10s",
			Containers: []api.ContainerMetrics{{Name: "app", Usage: quantities("12m", "20Mi")}, {Name: "log", Usage: quantities("3m", "4Mi")}}},
		{ObjectMeta: api.ObjectMeta{Name: "api-1", Namespace: "default"}, Timestamp: now, Window: "10s",
			Containers: []api.ContainerMetrics{{Name: "app", Usage: quantities("250m", "8Mi")}}},
	}, []api.NodeMetrics{{ObjectMeta: api.ObjectMeta{Name: "h1"}, Timestamp: now, Window: "10s", Usage: quantities("500m", "1Gi")}})

	r := shoal(t, srv, "", "top", "pods")
	expectOK(t, r)
	want := "NAME    CPU(cores)   MEMORY(bytes)\napi-1   250m         8Mi\nweb-1   15m          24Mi\n"
	if r.stdout != want {
		t.Fatalf("top pods:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, srv, "", "top", "pods", "--sort-by", "memory", "--containers")
	expectOK(t, r)
	want = "POD     NAME   CPU(cores)   MEMORY(bytes)\nweb-1   app    12m          20Mi\napi-1   app    250m         8Mi\nweb-1   log    3m           4Mi\n"
	if r.stdout != want {
		t.Fatalf("top pods --containers:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, srv, "", "top", "pod", "-l", "app=api", "--no-headers")
	expectOK(t, r)
	if r.stdout != "api-1   250m   8Mi\n" {
		t.Fatalf("-l app=api: %q", r.stdout)
	}
	r = shoal(t, srv, "", "top", "nodes")
	expectOK(t, r)
	want = "NAME   CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)\nh1     500m         25%      1024Mi          25%\n"
	if r.stdout != want {
		t.Fatalf("top nodes:\n%s\nwant:\n%s", r.stdout, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "pods", "--sort-by", "name"}, `--sort-by "name" is not known: use cpu or memory`},
		{[]string{"top", "pods", "nope"}, "metrics not available yet for pod default/nope"},
		{[]string{"top", "pods", "-A", "web-1"}, "a pod cannot be named across all namespaces"},
		{[]string{"top", "pods", "-n", "shoal-system"}, "no pods have metrics in namespace shoal-system yet"},
	} {
		if r := shoal(t, srv, "", c.args...); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
