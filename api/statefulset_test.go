package api

import (
	"strings"
	"testing"
)

func TestStatefulSetValidationNamesTheFieldAndTheFix(t *testing.T) {
	good := func() *StatefulSet {
		s := &StatefulSet{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: StatefulSetSpec{ServiceName: "web", Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: PodSpec{Containers: []Container{{Name: "app", Image: "img:1",
						VolumeMounts: []VolumeMount{{Name: "data", MountPath: "/data"}}}}}},
				VolumeClaimTemplates: []PersistentVolumeClaim{{ObjectMeta: ObjectMeta{Name: "data"},
					Spec: PersistentVolumeClaimSpec{AccessModes: []string{ReadWriteOnce}}}}}}
		Default(s)
		return s
	}
	if err := Validate(good()); err != nil {
		t.Fatalf("a good StatefulSet (its mount names a claim template): %v", err)
	}
	// A template volume named as a claim template is replaced by the claim
	// (the cockroachdb example has one).
	withVolume := good()
	withVolume.Spec.Template.Spec.Volumes = []Volume{{Name: "data", PersistentVolumeClaim: &PersistentVolumeClaimSource{ClaimName: "data"}}}
	if err := Validate(withVolume); err != nil {
		t.Fatalf("a template volume of a claim template's name: %v", err)
	}
	s := good()
	if *s.Spec.Replicas != 1 || s.Spec.PodManagementPolicy != OrderedReadyPodManagement || s.Spec.UpdateStrategy.Type != RollingUpdateStrategy ||
		*s.Spec.UpdateStrategy.RollingUpdate.Partition != 0 || *s.Spec.RevisionHistoryLimit != 10 ||
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != RetainClaimPolicy || s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled != RetainClaimPolicy ||
		*s.Spec.VolumeClaimTemplates[0].Spec.VolumeMode != VolumeModeFS {
		t.Fatalf("defaults: %+v", s.Spec)
	}
	for _, tc := range []struct {
		change func(*StatefulSet)
		want   string
	}{
		{func(s *StatefulSet) { s.Name = strings.Repeat("n", 53) }, "metadata.name: Invalid"},
		{func(s *StatefulSet) { s.Spec.Replicas = Int32(-1) }, "spec.replicas: Invalid"},
		{func(s *StatefulSet) { s.Spec.ServiceName = "Web_1" }, "spec.serviceName: Invalid"},
		{func(s *StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, "spec.podManagementPolicy: Unsupported"},
		{func(s *StatefulSet) { s.Spec.UpdateStrategy.Type = "Recreate" }, "spec.updateStrategy.type: Unsupported"},
		{func(s *StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = Int32(-1) }, "spec.updateStrategy.rollingUpdate.partition: Invalid"},
		{func(s *StatefulSet) {
			z := FromInt(0)
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &z
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid"},
		{func(s *StatefulSet) { s.Spec.UpdateStrategy.Type = OnDeleteStatefulSetUpdate }, "spec.updateStrategy.rollingUpdate: Forbidden"},
		{func(s *StatefulSet) { s.Spec.MinReadySeconds = -1 }, "spec.minReadySeconds: Invalid"},
		{func(s *StatefulSet) { s.Spec.Ordinals = &StatefulSetOrdinals{Start: -2} }, "spec.ordinals.start: Invalid"},
		{func(s *StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			"spec.persistentVolumeClaimRetentionPolicy.whenScaled: Unsupported"},
		{func(s *StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil }, "spec.volumeClaimTemplates[0].spec.accessModes: Required"},
		{func(s *StatefulSet) { s.Spec.VolumeClaimTemplates[0].Name = "" }, "spec.volumeClaimTemplates[0].metadata.name: Required"},
		{func(s *StatefulSet) {
			s.Spec.VolumeClaimTemplates = append(s.Spec.VolumeClaimTemplates, s.Spec.VolumeClaimTemplates[0])
		}, "spec.volumeClaimTemplates[1].metadata.name: Duplicate"},
		{func(s *StatefulSet) { s.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "other" },
			"spec.template.spec.containers[0].volumeMounts[0].name: Invalid"},
		{func(s *StatefulSet) { s.Spec.Template.Labels = map[string]string{"app": "db"} }, "spec.template.metadata.labels: Invalid"},
	} {
		s := good()
		tc.change(s)
		err := Validate(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}

func TestStatefulSetIsServedAsAppsV1WithShortNameSts(t *testing.T) {
	k, ok := LookupKind("sts")
	if !ok || k.Kind != "StatefulSet" || k.APIVersion() != "apps/v1" || !k.HasStatus || !k.Namespaced {
		t.Fatalf("sts: %+v %v", k, ok)
	}
}

func TestControllerRevisionValidation(t *testing.T) {
	good := &ControllerRevision{ObjectMeta: ObjectMeta{Name: "web-abc", Namespace: "default"}, Data: []byte(`{"spec":{}}`), Revision: 1}
	if err := Validate(good); err != nil {
		t.Fatalf("a good ControllerRevision: %v", err)
	}
	for _, tc := range []struct {
		r    *ControllerRevision
		want string
	}{
		{&ControllerRevision{ObjectMeta: good.ObjectMeta, Revision: -1}, "revision: Invalid"},
		{&ControllerRevision{ObjectMeta: good.ObjectMeta, Data: []byte(`[1]`)}, "data: Invalid"},
	} {
		if err := Validate(tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}
