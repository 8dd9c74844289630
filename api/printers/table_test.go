package printers

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Every kind's cells line up with its columns, wide or not, even for an
// object with nothing set (a new kind's table missing a cell would shift
// every column after it).
func TestCellsMatchColumnsForEveryKind(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, k := range api.Kinds {
		tbl := For(k.Kind)
		if Has(k.Kind) != (tbl != generic) {
			t.Errorf("%s: Has and For disagree", k.Kind)
		}
		o := k.NewObject()
		o.GetObjectMeta().CreationTimestamp = api.NewTime(now.Add(-90 * time.Second))
		for _, wide := range []bool{false, true} {
			cols := tbl.Columns(wide)
			cells := tbl.Cells(o, now, &Options{Wide: wide})
			if tbl.Named() {
				cells = append([]string{"name"}, cells...)
			}
			if len(cells) != len(cols) {
				t.Errorf("%s (wide %v): %d cells for %d columns", k.Kind, wide, len(cells), len(cols))
			}
			headers := len(cols)
			if tbl.Named() {
				headers-- // NAME is the CLI's own
			}
			if len(tbl.Headers(wide)) != headers {
				t.Errorf("%s (wide %v): %d headers for %d columns", k.Kind, wide, len(tbl.Headers(wide)), len(cols))
			}
			for i, c := range cols {
				if c.Header() == "AGE" && cells[i] != "90s" {
					t.Errorf("%s: AGE cell %q", k.Kind, cells[i])
				}
			}
		}
		// The wide columns come after the default ones, at priority 1.
		seenWide := false
		for _, c := range tbl.Columns(true) {
			if c.Priority != 0 && c.Priority != 1 || seenWide && c.Priority == 0 {
				t.Errorf("%s: column %s at priority %d after a wide one", k.Kind, c.Name, c.Priority)
			}
			seenWide = seenWide || c.Priority == 1
		}
	}
}

func TestHeadersAreUpperCasedNames(t *testing.T) {
	tbl := For("DaemonSet")
	want := []string{"DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
	got := tbl.Headers(true)
	if len(got) != len(want) {
		t.Fatalf("headers %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("header %d: %q, want %q", i, got[i], want[i])
		}
	}
	if n := len(tbl.Headers(false)); n != 7 {
		t.Errorf("%d default headers", n)
	}
}

func TestStorageAndCronJobCells(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	created := api.NewTime(now.Add(-2 * time.Hour))
	last := api.NewTime(now.Add(-3 * time.Minute))
	zone, retain, wait, fs := "Europe/Paris", api.ReclaimRetain, api.BindingWaitForFirstConsumer, "Filesystem"
	yes := true
	for _, tc := range []struct {
		obj  api.Object
		want string
	}{
		{&api.CronJob{ObjectMeta: api.ObjectMeta{CreationTimestamp: created},
			Spec: api.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: &zone, Suspend: &yes,
				JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{
					Containers: []api.Container{{Name: "tick", Image: "tool:1"}}}}}}},
			Status: api.CronJobStatus{Active: []api.ObjectReference{{Name: "tick-1"}}, LastScheduleTime: &last}},
			"*/5 * * * * | Europe/Paris | True | 1 | 3m | 120m | tick | tool:1 | <none>"},
		{&api.CronJob{ObjectMeta: api.ObjectMeta{CreationTimestamp: created}, Spec: api.CronJobSpec{Schedule: "@hourly"}},
			"@hourly | <none> | <unset> | 0 | <none> | 120m |  |  | <none>"},
		{&api.ServiceAccount{ObjectMeta: api.ObjectMeta{CreationTimestamp: created}}, "0 | 120m"},
		{&api.StorageClass{ObjectMeta: api.ObjectMeta{CreationTimestamp: created}, Provisioner: api.ProvisionerLocal},
			"shoal.io/local | Delete | Immediate | false | 120m"},
		{&api.StorageClass{ObjectMeta: api.ObjectMeta{CreationTimestamp: created}, Provisioner: "x", ReclaimPolicy: &retain,
			VolumeBindingMode: &wait, AllowVolumeExpansion: &yes}, "x | Retain | WaitForFirstConsumer | true | 120m"},
		{&api.PersistentVolume{ObjectMeta: api.ObjectMeta{CreationTimestamp: created},
			Spec: api.PersistentVolumeSpec{Capacity: api.ResourceList{api.ResourceStorage: api.MustParseQuantity("10Gi")},
				AccessModes: []string{api.ReadWriteOnce, api.ReadOnlyMany}, PersistentVolumeReclaimPolicy: retain,
				ClaimRef: &api.ObjectReference{Namespace: "default", Name: "data"}, StorageClassName: "manual", VolumeMode: &fs},
			Status: api.PersistentVolumeStatus{Phase: "Bound"}},
			"10Gi | RWO,ROX | Retain | Bound | default/data | manual | <none> | 120m | Filesystem"},
		{&api.PersistentVolume{ObjectMeta: api.ObjectMeta{CreationTimestamp: created}},
			" |  |  |  | <none> | <none> | <none> | 120m | <unset>"},
	} {
		k := api.KindOf(tc.obj)
		got := strings.Join(For(k.Kind).Cells(tc.obj, now, &Options{Wide: true}), " | ")
		if got != tc.want {
			t.Errorf("%s: cells %q, want %q", k.Kind, got, tc.want)
		}
	}
}
