package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoal-dev/shoal/internal/poll"
)

// clusterClientGo is a client-go clientset of one host's API, on the
// kubeconfig that host's agent wrote.
func clusterClientGo(t *testing.T, h *clusterHost) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", h.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// A client-go informer on one host sees the writes made through the two
// other hosts' APIs in order, and ends at each object's last write.
func TestClusterClientGoInformerSeesOtherHostsWritesInOrder(t *testing.T) {
	c := startCluster(t, 3)
	ctx := ctx(t)
	watcher := clusterClientGo(t, c.agent(1))
	const ns = "default"

	var events eventLog
	factory := informers.NewSharedInformerFactoryWithOptions(watcher, 0, informers.WithNamespace(ns))
	cmInf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := cmInf.AddEventHandler(events.handler("ConfigMap")); err != nil {
		t.Fatal(err)
	}
	infCtx, stopInformers := context.WithCancel(ctx)
	defer func() { stopInformers(); factory.Shutdown() }()
	factory.Start(infCtx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}

	var wrote writes
	var wg sync.WaitGroup
	for _, i := range []int{2, 3} {
		cs := clusterClientGo(t, c.agent(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			cms := cs.CoreV1().ConfigMaps(ns)
			for j := range 3 {
				name := fmt.Sprintf("from-h%d-%d", i, j)
				cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("h%d: create %s: %v", i, name, err)
					return
				}
				wrote.add("ConfigMap", name, cm.ResourceVersion)
				for v := 1; v <= 8; v++ {
					cm.Data["v"] = strconv.Itoa(v)
					if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
						t.Errorf("h%d: update %s: %v", i, name, err)
						return
					}
					wrote.add("ConfigMap", name, cm.ResourceVersion)
				}
				if j == 0 {
					if err := cms.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
						t.Errorf("h%d: delete %s: %v", i, name, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The informer ends holding each object at its last write, the two
	// deleted ones gone.
	want := map[string]string{}
	wrote.mu.Lock()
	for key, rvs := range wrote.rvs {
		if name := strings.TrimPrefix(key, "ConfigMap/"); !strings.HasSuffix(name, "-0") {
			want[name] = rvs[len(rvs)-1]
		}
	}
	wrote.mu.Unlock()
	poll.Until(t, 30*time.Second, "the informer on h1 holding the last writes", func() error {
		got := map[string]string{}
		for _, o := range cmInf.GetStore().List() {
			got[o.(*corev1.ConfigMap).Name] = o.(*corev1.ConfigMap).ResourceVersion
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("informer %v, last writes %v", got, want)
		}
		return nil
	})
	// Writes made on another host in quick succession may reach h1 as
	// one (gossip carries a key's newest state: docs/consistency.md);
	// what arrives comes in order.
	total := checkSeenInOrder(t, &events, &wrote, true)
	for _, i := range []int{2, 3} {
		got := events.of("ConfigMap", fmt.Sprintf("from-h%d-0", i))
		if len(got) == 0 || got[len(got)-1].typ != "DELETED" {
			t.Fatalf("from-h%d-0: the last notification is not its delete: %v", i, got)
		}
	}
	events.mu.Lock()
	seenCount := len(events.events)
	events.mu.Unlock()
	t.Logf("%d writes through h2 and h3; the informer on h1 had %d notifications, in order, ending at the last writes", total, seenCount)
}
