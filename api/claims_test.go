package api

import (
	"strings"
	"testing"
)

func validClaim() *PersistentVolumeClaim {
	class := "local"
	c := &PersistentVolumeClaim{TypeMeta: TypeMeta{Kind: "PersistentVolumeClaim", APIVersion: "v1"},
		ObjectMeta: ObjectMeta{Name: "data", Namespace: "default"},
		Spec: PersistentVolumeClaimSpec{AccessModes: []string{ReadWriteOnce}, StorageClassName: &class,
			Resources: VolumeResourceRequirements{Requests: ResourceList{ResourceStorage: MustParseQuantity("10Gi")}}}}
	Default(c)
	return c
}

func TestClaimValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *PersistentVolumeClaim)
		field  string
	}{
		{"no access mode", func(c *PersistentVolumeClaim) { c.Spec.AccessModes = nil }, "spec.accessModes"},
		{"unknown access mode", func(c *PersistentVolumeClaim) { c.Spec.AccessModes = []string{"ReadWriteSome"} }, "spec.accessModes[0]"},
		{"duplicate access mode", func(c *PersistentVolumeClaim) { c.Spec.AccessModes = []string{ReadWriteOnce, ReadWriteOnce} }, "spec.accessModes[1]"},
		{"ReadWriteOncePod with another", func(c *PersistentVolumeClaim) { c.Spec.AccessModes = []string{ReadWriteOncePod, ReadWriteOnce} }, "spec.accessModes"},
		{"zero size", func(c *PersistentVolumeClaim) {
			c.Spec.Resources.Requests[ResourceStorage] = MustParseQuantity("0")
		}, "spec.resources.requests[storage]"},
		{"cpu request", func(c *PersistentVolumeClaim) {
			c.Spec.Resources.Requests[ResourceCPU] = MustParseQuantity("1")
		}, "spec.resources.requests[cpu]"},
		{"block mode", func(c *PersistentVolumeClaim) { b := VolumeModeBlock; c.Spec.VolumeMode = &b }, "spec.volumeMode"},
		{"storage class", func(c *PersistentVolumeClaim) { s := "Fast_SSD"; c.Spec.StorageClassName = &s }, "spec.storageClassName"},
		{"selected node", func(c *PersistentVolumeClaim) {
			c.Annotations = map[string]string{AnnotationSelectedNode: "Host 1"}
		}, "metadata.annotations[volume.kubernetes.io/selected-node]"},
		{"name", func(c *PersistentVolumeClaim) { c.Name = "Data_1" }, "metadata.name"},
	}
	if err := Validate(validClaim()); err != nil {
		t.Fatalf("the valid claim is refused: %v", err)
	}
	noSize := validClaim()
	noSize.Spec.Resources = VolumeResourceRequirements{}
	noSize.Spec.StorageClassName = nil
	if err := Validate(noSize); err != nil {
		t.Fatalf("a claim without size or class (both optional) is refused: %v", err)
	}
	for _, c := range cases {
		pvc := validClaim()
		c.mutate(pvc)
		err := Validate(pvc)
		found := false
		for _, f := range fieldsOf(err) {
			found = found || f == c.field
		}
		if !found {
			t.Errorf("%s: error %v does not name %s", c.name, err, c.field)
		}
	}
}

func TestClaimKindAndDecoding(t *testing.T) {
	k, ok := LookupKind("pvc")
	if !ok || k.Kind != "PersistentVolumeClaim" || k.Resource != "persistentvolumeclaims" || !k.Namespaced || k.APIVersion() != "v1" {
		t.Fatalf("pvc is %+v", k)
	}
	if got := k.ObjectPath("shop", "data"); got != "/api/v1/namespaces/shop/persistentvolumeclaims/data" {
		t.Fatalf("path %s", got)
	}
	doc := `{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
	  "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path", "resources": {"requests": {"storage": "1Gi"}},
	  "dataSource": {"kind": "VolumeSnapshot"}}}`
	d, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.UnknownFields, ",") != "spec.dataSource" {
		t.Fatalf("unknown fields %v, want spec.dataSource reported", d.UnknownFields)
	}
	c, ok := d.Object.(*PersistentVolumeClaim)
	if !ok {
		t.Fatalf("decoded %T", d.Object)
	}
	if q := c.Spec.Resources.Requests[ResourceStorage]; q.Value() != 1<<30 || *c.Spec.StorageClassName != "local-path" {
		t.Fatalf("decoded %+v", c.Spec)
	}
	if ClaimPhase(c) != ClaimPending {
		t.Fatal("a claim without a node is not Pending")
	}
	c.Annotations = map[string]string{AnnotationSelectedNode: "h2"}
	if ClaimPhase(c) != ClaimBound || c.SelectedNode() != "h2" {
		t.Fatal("a claim with a node is not Bound to it")
	}
}
