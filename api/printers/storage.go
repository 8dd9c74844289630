package printers

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// accessModes is kubectl's short form of access modes: RWO,ROX.
func accessModes(modes []string) string {
	short := make([]string, 0, len(modes))
	for _, m := range modes {
		short = append(short, map[string]string{api.ReadWriteOnce: "RWO", api.ReadOnlyMany: "ROX",
			api.ReadWriteMany: "RWX", api.ReadWriteOncePod: "RWOP"}[m])
	}
	return strings.Join(short, ",")
}

func serviceAccountRow(o api.Object, now time.Time, _ *Options) []string {
	sa, ok := o.(*api.ServiceAccount)
	if !ok {
		return []string{"", ""}
	}
	return []string{fmt.Sprint(len(sa.Secrets)), Age(sa.CreationTimestamp, now)}
}

// storageClassRow shows what an unset field means, as kubectl does: Delete,
// Immediate, false.
func storageClassRow(o api.Object, now time.Time, _ *Options) []string {
	sc, ok := o.(*api.StorageClass)
	if !ok {
		return []string{"", "", "", "", ""}
	}
	reclaim, binding, expand := api.ReclaimDelete, api.BindingImmediate, false
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	if sc.VolumeBindingMode != nil {
		binding = *sc.VolumeBindingMode
	}
	if sc.AllowVolumeExpansion != nil {
		expand = *sc.AllowVolumeExpansion
	}
	return []string{sc.Provisioner, reclaim, binding, fmt.Sprint(expand), Age(sc.CreationTimestamp, now)}
}

// persistentVolumeRow is kubectl's, with <none> in the cells kubectl
// leaves blank (no claim, class or reason): a blank cell breaks scripts
// that split on spaces.
func persistentVolumeRow(o api.Object, now time.Time, _ *Options) []string {
	pv, ok := o.(*api.PersistentVolume)
	if !ok {
		return []string{"", "", "", "", "", "", "", ""}
	}
	size := ""
	if q, ok := pv.Spec.Capacity[api.ResourceStorage]; ok {
		size = q.String()
	}
	claim := ""
	if r := pv.Spec.ClaimRef; r != nil {
		claim = r.Namespace + "/" + r.Name
	}
	return []string{size, accessModes(pv.Spec.AccessModes), pv.Spec.PersistentVolumeReclaimPolicy, pv.Status.Phase,
		OrNone(claim), OrNone(pv.Spec.StorageClassName), OrNone(pv.Status.Reason), Age(pv.CreationTimestamp, now)}
}

func persistentVolumeWide(o api.Object) []string {
	pv, ok := o.(*api.PersistentVolume)
	if !ok || pv.Spec.VolumeMode == nil {
		return []string{"<unset>"}
	}
	return []string{*pv.Spec.VolumeMode}
}
