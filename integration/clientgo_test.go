package integration

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/shoal-dev/shoal/internal/poll"
)

// requestLog records the query strings client-go sends, to tell which
// protocol its informers spoke.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.urls = append(l.urls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (l *requestLog) matching(substrs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, u := range l.urls {
		for _, s := range substrs {
			if !strings.Contains(u, s) {
				continue next
			}
		}
		out = append(out, u)
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// seen is one informer notification.
type seen struct {
	typ, kind, name, rv string
}

// eventLog records an informer's notifications in the order it gives them.
type eventLog struct {
	mu     sync.Mutex
	events []seen
}

func (l *eventLog) handler(kind string) cache.ResourceEventHandler {
	rec := func(typ string, obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			// The informer missed the delete and found out at a re-list.
			typ, obj = "DELETED-UNSEEN", tomb.Obj
		}
		m, err := metaOf(obj)
		if err != nil {
			return
		}
		l.mu.Lock()
		l.events = append(l.events, seen{typ, kind, m.GetName(), m.GetResourceVersion()})
		l.mu.Unlock()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { rec("ADDED", obj) },
		UpdateFunc: func(_, obj any) { rec("MODIFIED", obj) },
		DeleteFunc: func(obj any) { rec("DELETED", obj) },
	}
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

func (l *eventLog) of(kind, name string) []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []seen
	for _, e := range l.events {
		if e.kind == kind && e.name == name {
			out = append(out, e)
		}
	}
	return out
}

// rvNum reads the version time of a resourceVersion.
func rvNum(t *testing.T, rv string) uint64 {
	t.Helper()
	head, _, _ := strings.Cut(rv, ".")
	n, err := strconv.ParseUint(head, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not a number: %v", rv, err)
	}
	return n
}

// writes records the resourceVersions each write of the test produced,
// per object.
type writes struct {
	mu  sync.Mutex
	rvs map[string][]string // kind/name
}

func (w *writes) add(kind, name, rv string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rvs == nil {
		w.rvs = map[string][]string{}
	}
	w.rvs[kind+"/"+name] = append(w.rvs[kind+"/"+name], rv)
}

func clientGoConfig(t *testing.T, a *agent, reqs *requestLog) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", a.kubeconfig())
	if err != nil {
		t.Fatalf("client-go cannot read the agent's kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.WrapTransport = reqs.wrap
	return cfg
}

func TestClientGoListWatchInformerWriteAndDelete(t *testing.T) {
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		t.Fatalf("client-go's WatchListClient gate is off: this test means to check the streaming list it turns on")
	}
	a := startAgent(t)
	reqs := &requestLog{}
	cs, err := kubernetes.NewForConfig(clientGoConfig(t, a, reqs))
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	const ns = "cg"
	if _, err := cs.CoreV1().Namespaces().Create(c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	cms := cs.CoreV1().ConfigMaps(ns)
	deps := cs.AppsV1().Deployments(ns)
	var wrote writes

	// Objects that exist before the informers start come in their initial state.
	for i := range 5 {
		cm, err := cms.Create(c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pre-%d", i)},
			Data: map[string]string{"n": strconv.Itoa(i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create configmap: %v", err)
		}
		wrote.add("ConfigMap", cm.Name, cm.ResourceVersion)
	}
	dep, err := deps.Create(c, clientGoDeployment("web", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	wrote.add("Deployment", dep.Name, dep.ResourceVersion)

	t.Run("list in pages and by field", func(t *testing.T) {
		var names []string
		opts := metav1.ListOptions{Limit: 2}
		pages := 0
		var listRV string
		for {
			l, err := cms.List(c, opts)
			if err != nil {
				t.Fatalf("list page %d: %v", pages, err)
			}
			pages++
			if len(l.Items) > 2 {
				t.Fatalf("page of %d items with limit 2", len(l.Items))
			}
			if listRV == "" {
				listRV = l.ResourceVersion
			} else if l.ResourceVersion != listRV {
				t.Fatalf("page %d has resourceVersion %s, the list's is %s", pages, l.ResourceVersion, listRV)
			}
			for _, it := range l.Items {
				names = append(names, it.Name)
			}
			if l.Continue == "" {
				break
			}
			opts.Continue = l.Continue
		}
		if pages != 3 || strings.Join(names, ",") != "pre-0,pre-1,pre-2,pre-3,pre-4" {
			t.Fatalf("%d pages of %v, want 3 pages of pre-0..pre-4", pages, names)
		}
		one, err := cms.List(c, metav1.ListOptions{FieldSelector: "metadata.name=pre-3"})
		if err != nil || len(one.Items) != 1 || one.Items[0].Name != "pre-3" {
			t.Fatalf("fieldSelector metadata.name=pre-3: %v, %v", one, err)
		}
		if _, err := cms.List(c, metav1.ListOptions{FieldSelector: "data.n=1"}); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "data.n") {
			t.Fatalf("an unsupported field selector: want a 400 naming the field, got %v", err)
		}
		// shoal keeps no older states: an exact list at an old version is 410 Expired.
		if _, err := cms.List(c, metav1.ListOptions{ResourceVersion: "1", ResourceVersionMatch: metav1.ResourceVersionMatchExact}); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("exact list at resourceVersion 1: want 410 Expired, got %v", err)
		}
	})

	t.Run("streaming list ends its initial events with the bookmark", func(t *testing.T) {
		w, err := cms.Watch(c, metav1.ListOptions{SendInitialEvents: ptrTo(true), AllowWatchBookmarks: true,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		added := map[string]bool{}
		for ev := range w.ResultChan() {
			m, err := metaOf(ev.Object)
			if err != nil {
				t.Fatalf("%s event: %v", ev.Type, err)
			}
			if ev.Type == watch.Added {
				added[m.GetName()] = true
				continue
			}
			if ev.Type != watch.Bookmark || m.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" || m.GetResourceVersion() == "" {
				t.Fatalf("want ADDED events then the initial-events-end bookmark, got %s %+v", ev.Type, m)
			}
			break
		}
		if len(added) != 5 {
			t.Fatalf("initial events for %v, want the 5 configmaps", added)
		}
	})

	t.Run("a watch ends after timeoutSeconds", func(t *testing.T) {
		to := int64(1)
		start := time.Now()
		w, err := cms.Watch(c, metav1.ListOptions{TimeoutSeconds: &to, ResourceVersion: dep.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		for range w.ResultChan() {
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("a watch with timeoutSeconds=1 lasted %s", d)
		}
	})

	// Informers on the three kinds, recording every notification.
	var events eventLog
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	cmInf := factory.Core().V1().ConfigMaps().Informer()
	depInf := factory.Apps().V1().Deployments().Informer()
	podInf := factory.Core().V1().Pods().Informer()
	for kind, inf := range map[string]cache.SharedIndexInformer{"ConfigMap": cmInf, "Deployment": depInf, "Pod": podInf} {
		if _, err := inf.AddEventHandler(events.handler(kind)); err != nil {
			t.Fatal(err)
		}
	}
	infCtx, stopInformers := context.WithCancel(c)
	defer func() { stopInformers(); factory.Shutdown() }()
	factory.Start(infCtx.Done())
	syncCtx, cancelSync := context.WithTimeout(c, 20*time.Second)
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.Fatalf("informer of %v did not sync in 20 s; requests: %v", typ, reqs.matching("watch"))
		}
	}
	cancelSync()
	// The informers streamed their lists (client-go's WatchListClient)
	// rather than falling back to a plain list.
	for _, res := range []string{"configmaps", "deployments", "pods"} {
		if got := reqs.matching("/namespaces/"+ns+"/"+res+"?", "sendInitialEvents=true", "watch=true"); len(got) == 0 {
			t.Fatalf("no streaming list of %s: requests %v", res, reqs.matching(res))
		}
		if got := reqs.matching("GET /api", "/namespaces/"+ns+"/"+res+"?", "resourceVersion=0"); len(got) > 0 {
			t.Fatalf("the informer of %s fell back to a plain list: %v", res, got)
		}
	}
	if n := len(cmInf.GetStore().ListKeys()); n != 5 {
		t.Fatalf("the configmap informer holds %d objects after sync, want 5", n)
	}

	t.Run("pods of the deployment show in the pod informer", func(t *testing.T) {
		poll.Until(t, 60*time.Second, "a running pod of web in the informer", func() error {
			for _, o := range podInf.GetStore().List() {
				p := o.(*corev1.Pod)
				if p.Labels["app"] == "web" && p.Status.Phase == corev1.PodRunning {
					return nil
				}
			}
			return fmt.Errorf("%d pods, none running", len(podInf.GetStore().List()))
		})
	})

	t.Run("update retried on conflict under a concurrent writer", func(t *testing.T) {
		var conflicts, writerWrites atomic.Int64
		wctx, stopWriter := context.WithCancel(c)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; wctx.Err() == nil; i++ {
				err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
					d, err := deps.Get(wctx, "web", metav1.GetOptions{})
					if err != nil {
						return err
					}
					setAnnotation(&d.ObjectMeta, "writer", strconv.Itoa(i))
					d, err = deps.Update(wctx, d, metav1.UpdateOptions{})
					if err == nil {
						wrote.add("Deployment", d.Name, d.ResourceVersion)
						writerWrites.Add(1)
					}
					return err
				})
				if err != nil && wctx.Err() == nil {
					t.Errorf("concurrent writer: %v", err)
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
		}()
		defer func() { stopWriter(); wg.Wait() }()
		for i := range 10 {
			attempts := 0
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				attempts++
				d, err := deps.Get(c, "web", metav1.GetOptions{})
				if err != nil {
					return err
				}
				if attempts == 1 {
					time.Sleep(40 * time.Millisecond) // the writer gets in between
				}
				setAnnotation(&d.ObjectMeta, "step", strconv.Itoa(i))
				d, err = deps.Update(c, d, metav1.UpdateOptions{})
				if apierrors.IsConflict(err) {
					conflicts.Add(1)
				}
				if err == nil {
					wrote.add("Deployment", d.Name, d.ResourceVersion)
				}
				return err
			})
			if err != nil {
				t.Fatalf("update %d: %v after %d attempts", i, err, attempts)
			}
		}
		stopWriter()
		wg.Wait()
		if t.Failed() {
			return
		}
		if conflicts.Load() == 0 {
			t.Fatalf("no update conflicted with the concurrent writer (%d writes of its own)", writerWrites.Load())
		}
		d, err := deps.Get(c, "web", metav1.GetOptions{})
		if err != nil || d.Annotations["step"] != "9" {
			t.Fatalf("after the retried updates: step=%q, %v", d.Annotations["step"], err)
		}
		t.Logf("10 updates retried past %d conflicts with a writer that wrote %d times", conflicts.Load(), writerWrites.Load())
	})

	t.Run("merge patch", func(t *testing.T) {
		d, err := deps.Patch(c, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{})
		if err != nil || d.Labels["patched"] != "yes" || d.Labels["app"] != "web" {
			t.Fatalf("merge patch: labels %v, %v", d.Labels, err)
		}
		wrote.add("Deployment", d.Name, d.ResourceVersion)
	})

	t.Run("configmap writes in quick succession reach the informer in order", func(t *testing.T) {
		changes := 0
		for i := range 6 {
			name := fmt.Sprintf("burst-%d", i)
			cm, err := cms.Create(c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			wrote.add("ConfigMap", name, cm.ResourceVersion)
			changes++
			for v := 1; v <= 8; v++ {
				cm.Data["v"] = strconv.Itoa(v)
				if cm, err = cms.Update(c, cm, metav1.UpdateOptions{}); err != nil {
					t.Fatalf("update %s: %v", name, err)
				}
				wrote.add("ConfigMap", name, cm.ResourceVersion)
				changes++
			}
			if i%2 == 0 {
				if err := cms.Delete(c, name, metav1.DeleteOptions{}); err != nil {
					t.Fatalf("delete %s: %v", name, err)
				}
				changes++
			}
		}
		for i := range 5 {
			cm, err := cms.Patch(c, fmt.Sprintf("pre-%d", i), types.MergePatchType, []byte(`{"data":{"patched":"1"}}`), metav1.PatchOptions{})
			if err != nil {
				t.Fatalf("patch pre-%d: %v", i, err)
			}
			wrote.add("ConfigMap", cm.Name, cm.ResourceVersion)
			changes++
		}
		if changes < 50 {
			t.Fatalf("only %d changes", changes)
		}
		t.Logf("%d configmap changes written", changes)
	})

	t.Run("delete with propagation Background", func(t *testing.T) {
		bg := metav1.DeletePropagationBackground
		if err := deps.Delete(c, "web", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		poll.Until(t, 60*time.Second, "web and its pods gone", func() error {
			if _, err := deps.Get(c, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("deployment still there (%v)", err)
			}
			pods, err := cs.CoreV1().Pods(ns).List(c, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d pods left", len(pods.Items))
			}
			return nil
		})
	})

	t.Run("the informers saw every change in order", func(t *testing.T) {
		// Wait until the informers' stores agree with the server.
		poll.Until(t, 20*time.Second, "informer stores equal to the server's", func() error {
			return sameState(c, cs, ns, cmInf.GetStore(), depInf.GetStore())
		})
		total := checkSeenInOrder(t, &events, &wrote, false)
		if total < 50 {
			t.Fatalf("only %d writes checked", total)
		}
		for i := 0; i < 6; i += 2 {
			got := events.of("ConfigMap", fmt.Sprintf("burst-%d", i))
			if len(got) == 0 || got[len(got)-1].typ != "DELETED" {
				t.Fatalf("burst-%d: the last notification is not its delete: %v", i, got)
			}
		}
		if got := events.of("Deployment", "web"); len(got) == 0 || got[len(got)-1].typ != "DELETED" {
			t.Fatalf("web: the last notification is not its delete: %v", got)
		}
		t.Logf("%d writes to %d objects, each seen by the informers in order", total, len(wrote.rvs))
	})

	t.Run("a bare pod created, seen running and deleted", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "solo", Labels: map[string]string{"app": "solo"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: testImage, Args: []string{"serve", "--port", "8080"}}}}}
		if _, err := cs.CoreV1().Pods(ns).Create(c, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod: %v", err)
		}
		poll.Until(t, 60*time.Second, "solo running in the informer", func() error {
			o, ok, err := podInf.GetStore().GetByKey(ns + "/solo")
			if err != nil || !ok {
				return fmt.Errorf("not in the informer (%v)", err)
			}
			if p := o.(*corev1.Pod); p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			return nil
		})
		zero := int64(0)
		if err := cs.CoreV1().Pods(ns).Delete(c, "solo", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatalf("delete pod: %v", err)
		}
		poll.Until(t, 30*time.Second, "solo gone from the informer", func() error {
			if _, ok, _ := podInf.GetStore().GetByKey(ns + "/solo"); ok {
				return fmt.Errorf("still there")
			}
			return nil
		})
	})
}

// checkSeenInOrder checks that the informers saw each object's changes in
// the order of its resourceVersions, with no delete learnt of only by
// re-listing, and (unless coalesced) every write made after they started;
// it returns the number of writes checked.
func checkSeenInOrder(t *testing.T, events *eventLog, wrote *writes, coalesced bool) int {
	t.Helper()
	wrote.mu.Lock()
	defer wrote.mu.Unlock()
	total := 0
	for key, rvs := range wrote.rvs {
		kind, name, _ := strings.Cut(key, "/")
		got := events.of(kind, name)
		total += len(rvs)
		seenRV := map[string]bool{}
		var last uint64
		for i, e := range got {
			if e.typ == "DELETED-UNSEEN" {
				t.Fatalf("%s: the informer missed a delete and learnt of it by re-listing", key)
			}
			if e.typ == "ADDED" && i > 0 {
				t.Fatalf("%s: ADDED again after %v", key, got[:i])
			}
			n := rvNum(t, e.rv)
			if n <= last {
				t.Fatalf("%s: resourceVersion %s came after %d: out of order in %v", key, e.rv, last, got)
			}
			last = n
			seenRV[e.rv] = true
		}
		if len(got) == 0 {
			t.Fatalf("%s: the informer saw nothing of it", key)
		}
		// Writes before the informer started are summed up in its
		// first ADDED; every later one must have been seen.
		first := rvNum(t, got[0].rv)
		for _, rv := range rvs {
			if !coalesced && rvNum(t, rv) > first && !seenRV[rv] {
				sort.Slice(rvs, func(i, j int) bool { return rvNum(t, rvs[i]) < rvNum(t, rvs[j]) })
				t.Fatalf("%s: the informer never saw the write at resourceVersion %s; wrote %v, saw %v", key, rv, rvs, got)
			}
		}
	}
	return total
}

// sameState compares the informers' stores with a fresh list from the server.
func sameState(c context.Context, cs kubernetes.Interface, ns string, cmStore, depStore cache.Store) error {
	cms, err := cs.CoreV1().ConfigMaps(ns).List(c, metav1.ListOptions{})
	if err != nil {
		return err
	}
	deps, err := cs.AppsV1().Deployments(ns).List(c, metav1.ListOptions{})
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, o := range cms.Items {
		want["cm/"+o.Name] = o.ResourceVersion
	}
	for _, o := range deps.Items {
		want["deploy/"+o.Name] = o.ResourceVersion
	}
	got := map[string]string{}
	for _, o := range cmStore.List() {
		got["cm/"+o.(*corev1.ConfigMap).Name] = o.(*corev1.ConfigMap).ResourceVersion
	}
	for _, o := range depStore.List() {
		got["deploy/"+o.(*appsv1.Deployment).Name] = o.(*appsv1.Deployment).ResourceVersion
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("informers hold %v, the server %v", got, want)
	}
	return nil
}

func setAnnotation(m *metav1.ObjectMeta, k, v string) {
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[k] = v
}

func ptrTo[T any](v T) *T { return &v }

func clientGoDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	grace := int64(5)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{Name: "app", Image: testImage, Args: []string{"serve", "--port", "8080"},
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
				},
			},
		},
	}
}

// withoutWatchList is client-go's feature gates with WatchListClient off,
// as in client-go before v0.35.
type withoutWatchList struct{ clientfeatures.Gates }

func (g withoutWatchList) Enabled(f clientfeatures.Feature) bool {
	return f != clientfeatures.WatchListClient && g.Gates.Enabled(f)
}

// Without the streaming list (older client-go, or the gate turned off) an
// informer lists, then watches from the list's resourceVersion, and sees
// every change in order just the same.
func TestClientGoInformerWithPlainList(t *testing.T) {
	gates := clientfeatures.FeatureGates()
	clientfeatures.ReplaceFeatureGates(withoutWatchList{gates})
	defer clientfeatures.ReplaceFeatureGates(gates)

	a := startAgent(t)
	reqs := &requestLog{}
	cs, err := kubernetes.NewForConfig(clientGoConfig(t, a, reqs))
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	const ns = "default"
	cms := cs.CoreV1().ConfigMaps(ns)
	var wrote writes
	for i := range 3 {
		cm, err := cms.Create(c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pre-%d", i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wrote.add("ConfigMap", cm.Name, cm.ResourceVersion)
	}
	var events eventLog
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(events.handler("ConfigMap")); err != nil {
		t.Fatal(err)
	}
	infCtx, stopInformers := context.WithCancel(c)
	defer func() { stopInformers(); factory.Shutdown() }()
	factory.Start(infCtx.Done())
	syncCtx, cancelSync := context.WithTimeout(c, 20*time.Second)
	defer cancelSync()
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.Fatalf("informer of %v did not sync in 20 s", typ)
		}
	}
	if got := reqs.matching("/configmaps?", "sendInitialEvents"); len(got) > 0 {
		t.Fatalf("a streaming list with the gate off: %v", got)
	}
	if got := reqs.matching("GET /api/v1/namespaces/default/configmaps?", "limit=500", "resourceVersion=0"); len(got) == 0 {
		t.Fatalf("no plain list: %v", reqs.matching("configmaps"))
	}
	// The cache is synced once the list is in; the watch follows.
	poll.Until(t, 5*time.Second, "a watch after the list", func() error {
		if got := reqs.matching("/configmaps?", "watch=true", "allowWatchBookmarks=true"); len(got) == 0 {
			return fmt.Errorf("requests: %v", reqs.matching("configmaps"))
		}
		return nil
	})
	for i := range 3 {
		name := fmt.Sprintf("pre-%d", i)
		for v := range 12 {
			cm, err := cms.Patch(c, name, types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"v":"%d"}}`, v)), metav1.PatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wrote.add("ConfigMap", name, cm.ResourceVersion)
		}
	}
	if err := cms.Delete(c, "pre-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the informer holding the last writes", func() error {
		return sameState(c, cs, ns, inf.GetStore(), cache.NewStore(cache.MetaNamespaceKeyFunc))
	})
	if got := events.of("ConfigMap", "pre-0"); len(got) == 0 || got[len(got)-1].typ != "DELETED" {
		t.Fatalf("pre-0: the last notification is not its delete: %v", got)
	}
	t.Logf("%d writes seen in order after a plain list", checkSeenInOrder(t, &events, &wrote, false))
}
