package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front", "env": "prod"}
	cases := []struct {
		sel   string
		match bool
	}{
		{"", true},
		{"app=web", true},
		{"app==web", true},
		{"app=db", false},
		{"app!=db", true},
		{"app=web,tier=front", true},
		{"app=web,tier=back", false},
		{"tier in (front, back)", true},
		{"tier notin (front)", false},
		{"env", true},
		{"!env", false},
		{"!canary", true},
		{"canary", false},
		{"app in (web),!canary,env!=dev", true},
	}
	for _, c := range cases {
		s, err := ParseSelector(c.sel)
		if err != nil {
			t.Fatalf("%q: %v", c.sel, err)
		}
		if got := s.Matches(labels); got != c.match {
			t.Errorf("%q matches = %v, want %v", c.sel, got, c.match)
		}
		// The printed form parses back to the same meaning.
		again, err := ParseSelector(s.String())
		if err != nil || again.Matches(labels) != c.match {
			t.Errorf("%q printed as %q does not round-trip: %v", c.sel, s.String(), err)
		}
	}
	for _, bad := range []string{"a=b,", "in (x)", "a in (x", "bad key!=1", "a b"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

func TestLabelSelectorExpressions(t *testing.T) {
	ls := &LabelSelector{MatchLabels: map[string]string{"app": "web"},
		MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: OpIn, Values: []string{"a", "b"}}}}
	s, err := ls.AsSelector()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches(map[string]string{"app": "web", "tier": "b"}) || s.Matches(map[string]string{"app": "web", "tier": "c"}) {
		t.Fatal("matchExpressions not applied")
	}
	bad := &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "x", Operator: "Near"}}}
	if _, err := bad.AsSelector(); err == nil {
		t.Fatal("unknown operator accepted")
	}
}

func TestQuantities(t *testing.T) {
	cases := map[string]int64{"100m": 100, "1": 1000, "0.5": 500, "2": 2000, "1Ki": 1024 * 1000,
		"128Mi": 128 << 20 * 1000, "1G": 1e9 * 1000, "1e3": 1e6}
	for in, milli := range cases {
		q, err := ParseQuantity(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if q.MilliValue() != milli {
			t.Errorf("%s = %d milli, want %d", in, q.MilliValue(), milli)
		}
	}
	for _, bad := range []string{"", "abc", "1X", "-1", "1.2.3"} {
		if _, err := ParseQuantity(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	var rl ResourceList
	if err := json.Unmarshal([]byte(`{"cpu": 2, "memory": "64Mi"}`), &rl); err != nil || rl["cpu"].MilliValue() != 2000 {
		t.Fatalf("numbers and strings both accepted: %v %v", rl, err)
	}
}

func fieldsOf(err error) []string {
	var fe FieldErrors
	if !errors.As(err, &fe) {
		return nil
	}
	var out []string
	for _, f := range fe {
		out = append(out, f.Field)
	}
	return out
}

func validDeployment() *Deployment {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: DeploymentSpec{Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: PodSpec{Containers: []Container{{Name: "app", Image: "img:1"}}}}}}
	Default(d)
	return d
}

func TestValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *Deployment)
		field  string
	}{
		{"name", func(d *Deployment) { d.Name = "Web_1" }, "metadata.name"},
		{"replicas", func(d *Deployment) { d.Spec.Replicas = Int32(-1) }, "spec.replicas"},
		{"image", func(d *Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }, "spec.template.spec.containers[0].image"},
		{"selector mismatch", func(d *Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} }, "spec.template.metadata.labels"},
		{"surge and unavailable 0", func(d *Deployment) {
			z := FromInt(0)
			d.Spec.Strategy.RollingUpdate = &RollingUpdateDeployment{MaxSurge: &z, MaxUnavailable: &z}
		}, "spec.strategy.rollingUpdate.maxUnavailable"},
		{"duplicate container", func(d *Deployment) {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, Container{Name: "app", Image: "x", ImagePullPolicy: PullIfNotPresent})
		}, "spec.template.spec.containers[1].name"},
		{"restart policy", func(d *Deployment) { d.Spec.Template.Spec.RestartPolicy = RestartNever }, "spec.template.spec.restartPolicy"},
		{"port", func(d *Deployment) {
			d.Spec.Template.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 70000, Protocol: "TCP"}}
		}, "spec.template.spec.containers[0].ports[0].containerPort"},
		{"probe without handler", func(d *Deployment) {
			d.Spec.Template.Spec.Containers[0].LivenessProbe = &Probe{PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}
		}, "spec.template.spec.containers[0].livenessProbe"},
		{"volume item escapes", func(d *Deployment) {
			d.Spec.Template.Spec.Volumes = []Volume{{Name: "cfg", ConfigMap: &ConfigMapVolumeSource{Name: "c", Items: []KeyToPath{{Key: "a", Path: "../etc/passwd"}}}}}
		}, "spec.template.spec.volumes[0].configMap.items[0].path"},
		{"mount of unknown volume", func(d *Deployment) {
			d.Spec.Template.Spec.Containers[0].VolumeMounts = []VolumeMount{{Name: "nope", MountPath: "/x"}}
		}, "spec.template.spec.containers[0].volumeMounts[0].name"},
		{"fieldRef", func(d *Deployment) {
			d.Spec.Template.Spec.Containers[0].Env = []EnvVar{{Name: "X", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "spec.secret"}}}}
		}, "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"},
	}
	if err := Validate(validDeployment()); err != nil {
		t.Fatalf("the valid deployment is refused: %v", err)
	}
	for _, c := range cases {
		d := validDeployment()
		c.mutate(d)
		err := Validate(d)
		found := false
		for _, f := range fieldsOf(err) {
			found = found || f == c.field
		}
		if !found {
			t.Errorf("%s: error %v does not name %s", c.name, err, c.field)
		}
	}
}

func TestDecodeReportsUnknownFields(t *testing.T) {
	d, err := Decode([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w","bogus":1},
		"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"a","image":"i","frob":true}]}}},"extra":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "extra,metadata.bogus,spec.template.spec.containers[0].frob"
	if got := strings.Join(d.UnknownFields, ","); got != want {
		t.Fatalf("unknown fields %q, want %q", got, want)
	}
	if _, err := Decode([]byte(`{"apiVersion":"v9","kind":"Pod"}`)); err == nil || !strings.Contains(err.Error(), "apiVersion") {
		t.Fatalf("wrong apiVersion: %v", err)
	}
	var uk *UnknownKindError
	if _, err := Decode([]byte(`{"apiVersion":"v1","kind":"Gizmo"}`)); !errors.As(err, &uk) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := Decode([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"two"}}`)); err == nil {
		t.Fatal("a string for an integer was accepted")
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "# comment only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\n" +
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n"
	docs, err := SplitDocuments(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3: %s", len(docs), bytes.Join(docs, []byte("|")))
	}
	if _, err := SplitDocuments(strings.NewReader("a: [1,\n")); err == nil || !strings.Contains(err.Error(), "document 1") {
		t.Fatalf("bad YAML: %v", err)
	}
	if _, err := SplitDocuments(strings.NewReader("- just\n- a list\n")); err == nil {
		t.Fatal("a top-level list was accepted as an object")
	}
}

func TestMergePatch(t *testing.T) {
	out, err := MergePatch([]byte(`{"a":1,"b":{"c":2,"d":3},"e":[1,2]}`), []byte(`{"a":null,"b":{"c":9},"e":[3]}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"b":{"c":9,"d":3},"e":[3]}` {
		t.Fatalf("got %s", out)
	}
}

func TestIntOrStringScaling(t *testing.T) {
	v := FromString("25%")
	if up, _ := v.ScaledValue(10, true); up != 3 {
		t.Fatalf("25%% of 10 rounded up = %d", up)
	}
	if down, _ := v.ScaledValue(10, false); down != 2 {
		t.Fatalf("25%% of 10 rounded down = %d", down)
	}
	var x IntOrString
	if err := json.Unmarshal([]byte(`8080`), &x); err != nil || x.IsString || x.IntVal != 8080 {
		t.Fatal("int form")
	}
	if err := json.Unmarshal([]byte(`"http"`), &x); err != nil || !x.IsString || x.StrVal != "http" {
		t.Fatal("string form")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w"},"spec":{"replicas":1}}`))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","ports":[{"containerPort":"x"}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			return
		}
		Default(d.Object)
		_ = Validate(d.Object)
	})
}

func FuzzSplitDocuments(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\n---\nkind: List\nitems: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = SplitDocuments(bytes.NewReader(data))
	})
}

func TestServiceValidation(t *testing.T) {
	valid := func() *Service {
		s := &Service{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []ServicePort{{Name: "http", Port: 80, TargetPort: FromString("http")}}}}
		Default(s)
		return s
	}
	if err := Validate(valid()); err != nil {
		t.Fatalf("valid service refused: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Service)
		field  string
	}{
		{"node port out of range", func(s *Service) { s.Spec.Type = ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 80 }, "spec.ports[0].nodePort"},
		{"port name not a DNS label", func(s *Service) { s.Spec.Ports[0].Name = "HTTP_port" }, "spec.ports[0].name"},
		{"name not a label", func(s *Service) { s.Name = "web.site" }, "metadata.name"},
		{"node port on ClusterIP", func(s *Service) { s.Spec.Ports[0].NodePort = 30080 }, "spec.ports[0].nodePort"},
		{"bad cluster IP", func(s *Service) { s.Spec.ClusterIP = "10.96.0.999" }, "spec.clusterIP"},
		{"unnamed ports", func(s *Service) {
			s.Spec.Ports = append(s.Spec.Ports, ServicePort{Port: 81, Protocol: "TCP", TargetPort: FromInt(81)})
			s.Spec.Ports[0].Name = ""
		}, "spec.ports[0].name"},
	}
	for _, c := range cases {
		s := valid()
		c.mutate(s)
		found := false
		for _, f := range fieldsOf(Validate(s)) {
			found = found || f == c.field
		}
		if !found {
			t.Errorf("%s: %v does not name %s", c.name, Validate(s), c.field)
		}
	}
	// ExternalName: a lower-case DNS-1123 subdomain, a trailing dot allowed,
	// as Kubernetes checks it; the cluster DNS serves it as a CNAME target.
	ext := func(name string) error {
		s := &Service{ObjectMeta: ObjectMeta{Name: "ext", Namespace: "default"},
			Spec: ServiceSpec{Type: ServiceTypeExternalName, ExternalName: name}}
		Default(s)
		return Validate(s)
	}
	for _, ok := range []string{"db.example.com", "db.example.com.", "localhost"} {
		if err := ext(ok); err != nil {
			t.Errorf("externalName %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{`\`, "", "Example.COM", "a..b", "a b", "-a.com", ".", "x_y.com", strings.Repeat("a.", 127) + "com"} {
		err := ext(bad)
		if f := fieldsOf(err); len(f) != 1 || f[0] != "spec.externalName" {
			t.Errorf("externalName %q: %v, want an error naming spec.externalName", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), "lower-case DNS name") || !strings.Contains(err.Error(), "db.example.com") {
			t.Errorf("externalName %q: %q does not say what to give", bad, err)
		}
	}
	d := &Service{Spec: ServiceSpec{Ports: []ServicePort{{Port: 8080}}}}
	Default(d)
	if d.Spec.Ports[0].TargetPort.IntVal != 8080 || d.Spec.Ports[0].Protocol != "TCP" || d.Spec.Type != ServiceTypeClusterIP {
		t.Fatalf("defaults %+v", d.Spec)
	}
}
