package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func TestGetAndDescribeClaims(t *testing.T) {
	srv := clienttest.NewServer(t)
	class := "local"
	bound := &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: "data", Namespace: "default",
		Annotations: map[string]string{api.AnnotationSelectedNode: "h2"}, CreationTimestamp: ago(time.Hour)},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{api.ReadWriteOnce}, StorageClassName: &class,
			Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.MustParseQuantity("1Gi")}}},
		Status: api.PersistentVolumeClaimStatus{Phase: api.ClaimBound}}
	pending := &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: "logs", Namespace: "default", CreationTimestamp: ago(time.Minute)},
		Spec:   api.PersistentVolumeClaimSpec{AccessModes: []string{api.ReadWriteOnce, api.ReadOnlyMany}},
		Status: api.PersistentVolumeClaimStatus{Phase: api.ClaimPending}}
	p := running("db-1", "default", ago(time.Hour))
	p.Spec.Volumes = []api.Volume{{Name: "d", PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: "data"}}}
	srv.Add(bound, pending, p)

	r := shoal(t, srv, "", "get", "pvc")
	expectOK(t, r)
	want := `NAME   STATUS    NODE     CAPACITY   ACCESS MODES   STORAGECLASS   AGE
data   Bound     h2       1Gi        RWO            local          60m
logs   Pending   <none>              RWO,ROX        <unset>        60s
`
	if r.stdout != want {
		t.Fatalf("get pvc:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, srv, "", "describe", "pvc", "data")
	expectOK(t, r)
	for _, f := range [][2]string{{"Name", "data"}, {"Status", "Bound"}, {"Node", "h2"}, {"Capacity", "1Gi"},
		{"Access Modes", "ReadWriteOnce"}, {"StorageClass", "local"}, {"Used By", "db-1"},
		{"Volume", "engine volume shoal-pvc-default-data on the node"}} {
		expectField(t, r.stdout, "", f[0], f[1])
	}
	if !strings.Contains(r.stdout, "Events:") {
		t.Errorf("no events section:\n%s", r.stdout)
	}
}
