package api

import (
	"strings"
	"testing"
)

func TestStorageKindsValidateNamingTheField(t *testing.T) {
	sc := &StorageClass{ObjectMeta: ObjectMeta{Name: "fast"}, Provisioner: "k8s.io/minikube-hostpath"}
	Default(sc)
	if err := Validate(sc); err != nil || *sc.ReclaimPolicy != ReclaimDelete || *sc.VolumeBindingMode != BindingImmediate {
		t.Fatalf("a class of another provisioner is stored as it is: %v %+v", err, sc)
	}
	sc.VolumeBindingMode = ptrTo("Later")
	if err := Validate(sc); err == nil || !strings.Contains(err.Error(), "volumeBindingMode: Unsupported") {
		t.Fatalf("binding mode: %v", err)
	}
	pv := &PersistentVolume{ObjectMeta: ObjectMeta{Name: "models"}, Spec: PersistentVolumeSpec{
		Capacity: ResourceList{ResourceStorage: MustParseQuantity("1Gi")}, AccessModes: []string{ReadOnlyMany},
		HostPath: &HostPathVolumeSource{Path: "/mnt/models"}}}
	Default(pv)
	if err := Validate(pv); err != nil || pv.Status.Phase != VolumeAvailable || pv.Spec.PersistentVolumeReclaimPolicy != ReclaimRetain {
		t.Fatalf("a hostPath volume: %v %+v", err, pv)
	}
	pv.Spec.HostPath = nil
	if err := Validate(pv); err == nil || !strings.Contains(err.Error(), "exactly one volume source") {
		t.Fatalf("no source: %v", err)
	}
	claim := &PersistentVolumeClaim{ObjectMeta: ObjectMeta{Name: "c", Namespace: "default"},
		Spec: PersistentVolumeClaimSpec{AccessModes: []string{ReadWriteOnce}, VolumeName: "models"}}
	if err := Validate(claim); err != nil {
		t.Fatalf("a claim naming a volume: %v", err)
	}
	claim.Spec.VolumeName = "Not_A_Name"
	if err := Validate(claim); err == nil || !strings.Contains(err.Error(), "spec.volumeName") {
		t.Fatalf("a claim naming a volume by an invalid name: %v", err)
	}
}
