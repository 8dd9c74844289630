package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// kubectlGetAccept is the Accept header of kubectl get.
const kubectlGetAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// kubectlGet prints what kubectl get prints for a collection: it asks the
// server for a Table as kubectl does, decodes each row's object as kubectl
// does, and prints the Table with kubectl's own table printer.
func kubectlGet(t *testing.T, srv *clienttest.Server, path string, opts printers.PrintOptions) string {
	t.Helper()
	return kubectlGetAs(t, srv, srv.Token, path, opts)
}

// kubectlGetAs is kubectlGet with the bearer token given.
func kubectlGetAs(t *testing.T, srv *clienttest.Server, token, path string, opts printers.PrintOptions) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Accept", kubectlGetAccept)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tbl metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&tbl); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, not a Table: %v", path, resp.StatusCode, err)
	}
	for i := range tbl.Rows {
		obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, tbl.Rows[i].Object.Raw)
		if err != nil {
			t.Fatalf("GET %s: row %d: %v", path, i, err)
		}
		tbl.Rows[i].Object.Object = obj
	}
	var b bytes.Buffer
	if err := printers.NewTablePrinter(opts).PrintObj(&tbl, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestKubectlPrintsTheCLIsTables checks, kind by kind, that kubectl's table
// printer, given the server's Table, prints what shoal get prints: the same
// columns, the same cells, the wide ones with -o wide, a NAMESPACE column
// with -A and LABELS with --show-labels, which kubectl makes from the rows'
// metadata.
func TestKubectlPrintsTheCLIsTables(t *testing.T) {
	srv := nodeFixture(t)
	srv.TableNow = func() time.Time { return fixedNow }
	crash := waiting("web-3", "CrashLoopBackOff", ago(52*time.Hour), 4)
	crash.Status.ContainerStatuses[0].LastState.Terminated = &api.ContainerStateTerminated{ExitCode: 1,
		Reason: "Error", FinishedAt: ago(30 * time.Second)}
	srv.Add(crash, running("elsewhere", "team", ago(time.Minute)),
		deployment("web", 3, 2, 3, 2, ago(90*time.Second)), deployment("api", 1, 0, 0, 0, ago(7*24*time.Hour)),
		daemonSet("agent", 3, 2, 2, ago(time.Hour)),
		&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "conf", Namespace: "default", CreationTimestamp: ago(30 * time.Second)},
			Data: map[string]string{"a": "1"}},
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "tls", Namespace: "default", CreationTimestamp: ago(time.Minute)},
			Data: map[string][]byte{"user": nil, "password": nil}},
		newIngress("site", "shoal", ingRule("a.example.com"), ingRule("b.example.com")),
		&api.Role{ObjectMeta: api.ObjectMeta{Name: "reader", Namespace: "default", CreationTimestamp: ago(2 * time.Hour)}})
	srv.Add(serviceFixture()...)
	srv.Add(jobFixture()...)
	retain, wait, fs := api.ReclaimRetain, api.BindingWaitForFirstConsumer, "Filesystem"
	srv.Add(&api.CronJob{ObjectMeta: api.ObjectMeta{Name: "tick", Namespace: "default", CreationTimestamp: ago(2 * time.Hour)},
		Spec:   api.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: api.JobTemplateSpec{Spec: job("tick", nil, ago(0)).Spec}},
		Status: api.CronJobStatus{LastScheduleTime: func() *api.Time { t := ago(3 * time.Minute); return &t }()}},
		&api.ServiceAccount{ObjectMeta: api.ObjectMeta{Name: "builder", Namespace: "default", CreationTimestamp: ago(time.Hour)}},
		&api.StorageClass{ObjectMeta: api.ObjectMeta{Name: "local", CreationTimestamp: ago(time.Hour)}, Provisioner: api.ProvisionerLocal,
			ReclaimPolicy: &retain, VolumeBindingMode: &wait},
		&api.PersistentVolume{ObjectMeta: api.ObjectMeta{Name: "pv1", CreationTimestamp: ago(time.Hour)},
			Spec: api.PersistentVolumeSpec{Capacity: api.ResourceList{api.ResourceStorage: api.MustParseQuantity("10Gi")},
				AccessModes: []string{api.ReadWriteOnce}, PersistentVolumeReclaimPolicy: retain, StorageClassName: "manual",
				VolumeMode: &fs, HostPath: &api.HostPathVolumeSource{Path: "/srv/pv1"}}})

	for _, res := range []string{"pods", "deployments", "daemonsets", "jobs", "services", "nodes", "namespaces",
		"configmaps", "secrets", "ingresses", "roles", "cronjobs", "serviceaccounts", "storageclasses", "persistentvolumes"} {
		var k *api.Kind
		for _, kk := range api.Kinds {
			if kk.Resource == res {
				k = kk
			}
		}
		ns := ""
		if k.Namespaced {
			ns = "default"
		}
		for _, tc := range []struct {
			args []string
			opts printers.PrintOptions
			ns   string
		}{
			{nil, printers.PrintOptions{}, ns},
			{[]string{"-o", "wide"}, printers.PrintOptions{Wide: true}, ns},
			{[]string{"-A", "--show-labels"}, printers.PrintOptions{WithNamespace: k.Namespaced, ShowLabels: true}, ""},
		} {
			r := shoal(t, srv, "", append([]string{"get", res}, tc.args...)...)
			expectOK(t, r)
			got := kubectlGet(t, srv, k.CollectionPath(tc.ns), tc.opts)
			if got != r.stdout {
				t.Errorf("get %s %s: kubectl prints:\n%s\nshoal prints:\n%s", res, strings.Join(tc.args, " "), got, r.stdout)
			}
		}
	}
}

// A caller who may list nodes but not every pod gets the node table with
// the sums over the pods as <unknown>, from kubectl as from shoal get.
func TestKubectlNodeTableWithoutPodAccess(t *testing.T) {
	srv := nodeFixture(t)
	srv.TableNow = func() time.Time { return fixedNow }
	reg := srv.Registry()
	if _, err := reg.Create(t.Context(), &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "node-reader"},
		Rules: []api.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}}); err != nil {
		t.Fatal(err)
	}
	token := srv.UserToken("nodes-only", "default")
	if _, err := reg.Create(t.Context(), &api.ClusterRoleBinding{ObjectMeta: api.ObjectMeta{Name: "nodes-only"},
		Subjects: []api.Subject{{Kind: api.SubjectUser, APIGroup: api.RBACGroup, Name: "nodes-only"}},
		RoleRef:  api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: "node-reader"}}); err != nil {
		t.Fatal(err)
	}
	var r result
	poll.Until(t, 10*time.Second, "the binding in force", func() error {
		if r = shoal(t, srv, "", "get", "nodes", "--token", token); r.code != 0 {
			return fmt.Errorf("%s", r.stderr)
		}
		return nil
	})
	if !strings.Contains(r.stdout, "<unknown>") {
		t.Fatalf("shoal get nodes without access to pods:\n%s", r.stdout)
	}
	if got := kubectlGetAs(t, srv, token, "/api/v1/nodes", printers.PrintOptions{}); got != r.stdout {
		t.Errorf("kubectl prints:\n%s\nshoal prints:\n%s", got, r.stdout)
	}
	// The admin sees the sums.
	if got := kubectlGet(t, srv, "/api/v1/nodes", printers.PrintOptions{}); strings.Contains(got, "<unknown>") {
		t.Errorf("the admin's node table:\n%s", got)
	}
}
