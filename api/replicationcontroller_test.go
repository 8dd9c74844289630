package api

import (
	"strings"
	"testing"
)

func TestReplicationControllerDefaultsFromItsTemplate(t *testing.T) {
	rc := &ReplicationController{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: ReplicationControllerSpec{Template: &PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "nginx"}},
			Spec: PodSpec{Containers: []Container{{Name: "c", Image: "nginx"}}}}}}
	Default(rc)
	if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "nginx" || rc.Labels["app"] != "nginx" {
		t.Fatalf("defaults: replicas %d, selector %v, labels %v", *rc.Spec.Replicas, rc.Spec.Selector, rc.Labels)
	}
	if rc.Spec.Template.Spec.RestartPolicy != RestartAlways {
		t.Errorf("the template's pod spec is not defaulted: %q", rc.Spec.Template.Spec.RestartPolicy)
	}
	if err := Validate(rc); err != nil {
		t.Fatal(err)
	}
	// The selector is not changed on the labels' account: the two are apart.
	rc.Spec.Template.Labels["tier"] = "front"
	Default(rc)
	if len(rc.Spec.Selector) != 1 {
		t.Errorf("selector rewritten: %v", rc.Spec.Selector)
	}
}

func TestReplicationControllerValidationNamesTheField(t *testing.T) {
	tmpl := func(labels map[string]string) *PodTemplateSpec {
		return &PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: labels}, Spec: PodSpec{Containers: []Container{{Name: "c", Image: "nginx"}}}}
	}
	for name, c := range map[string]struct {
		spec  ReplicationControllerSpec
		field string
	}{
		"selector not matching": {ReplicationControllerSpec{Selector: map[string]string{"app": "a"}, Template: tmpl(map[string]string{"app": "b"})}, "spec.template.metadata.labels"},
		"no template":           {ReplicationControllerSpec{Selector: map[string]string{"app": "a"}}, "spec.template"},
		"nothing to select by":  {ReplicationControllerSpec{Template: tmpl(nil)}, "spec.selector"},
		"negative replicas":     {ReplicationControllerSpec{Replicas: Int32(-1), Template: tmpl(map[string]string{"app": "a"})}, "spec.replicas"},
		"bad selector value":    {ReplicationControllerSpec{Selector: map[string]string{"app": "not valid!"}, Template: tmpl(map[string]string{"app": "not valid!"})}, "spec.selector"},
	} {
		rc := &ReplicationController{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: c.spec}
		Default(rc)
		err := Validate(rc)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.field)
		}
	}
}
