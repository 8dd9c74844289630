package podsecurity

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

type fakeView struct {
	namespaces map[string]*api.Namespace
	pods       []api.Object
	warnings   []string
}

func (f *fakeView) Get(k *api.Kind, _, name string) api.Object {
	if k == api.KindNamespace {
		if ns, ok := f.namespaces[name]; ok {
			return ns
		}
	}
	return nil
}

func (f *fakeView) List(k *api.Kind) []api.Object {
	if k == api.KindPod {
		return f.pods
	}
	return nil
}

func (f *fakeView) Warn(msg string) { f.warnings = append(f.warnings, msg) }

func namespace(name string, labels map[string]string) *api.Namespace {
	return &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
}

func view(nss ...*api.Namespace) *fakeView {
	v := &fakeView{namespaces: map[string]*api.Namespace{}}
	for _, ns := range nss {
		v.namespaces[ns.Name] = ns
	}
	return v
}

func privilegedPod(ns string) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Name: "root", Namespace: ns}, Spec: api.PodSpec{
		Volumes: []api.Volume{{Name: "host", HostPath: &api.HostPathVolumeSource{Path: "/"}}},
		Containers: []api.Container{{Name: "app", Image: "img",
			SecurityContext: &api.SecurityContext{Privileged: api.Bool(true)}}}}}
}

func statusOf(t *testing.T, err error) *api.StatusError {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("want a Status error, got %v", err)
	}
	return se
}

func TestTheDefaultLevelRefusesNamingEveryFieldAndTheFix(t *testing.T) {
	a := New(Baseline, nil)
	err := a.Check(view(namespace("default", nil)), nil, privilegedPod("default"))
	se := statusOf(t, err)
	if se.Code() != 403 || se.ErrStatus.Reason != api.ReasonForbidden {
		t.Fatalf("code %d reason %s", se.Code(), se.ErrStatus.Reason)
	}
	msg := se.Error()
	for _, want := range []string{`pods "root" is forbidden`, `"baseline:latest"`, "--pod-security-default",
		"spec.volumes[0].hostPath", "spec.containers[0].securityContext.privileged",
		"pod-security.kubernetes.io/enforce=privileged", `Namespace "default"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if len(se.ErrStatus.Details.Causes) != 2 {
		t.Errorf("causes %+v", se.ErrStatus.Details.Causes)
	}
}

func TestNamespaceLabelsChooseTheLevel(t *testing.T) {
	a := New(Baseline, nil)
	open := namespace("open", map[string]string{api.LabelPodSecurityEnforce: "privileged"})
	if err := a.Check(view(open), nil, privilegedPod("open")); err != nil {
		t.Fatalf("a privileged namespace refused: %v", err)
	}
	// shoal-system is privileged whatever its labels say.
	sys := namespace(ExemptNamespace, map[string]string{api.LabelPodSecurityEnforce: "restricted"})
	if err := a.Check(view(sys), nil, privilegedPod(ExemptNamespace)); err != nil {
		t.Fatalf("shoal-system refused: %v", err)
	}
	// A restricted namespace refuses a default pod and suggests baseline.
	strict := namespace("strict", map[string]string{api.LabelPodSecurityEnforce: "restricted"})
	plain := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "plain", Namespace: "strict"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img"}}}}
	se := statusOf(t, a.Check(view(strict), nil, plain))
	if msg := se.Error(); !strings.Contains(msg, `"restricted:latest"`) || !strings.Contains(msg, "enforce=baseline") ||
		!strings.Contains(msg, `the enforce level of namespace "strict"`) {
		t.Fatalf("message: %s", msg)
	}
	// A restricted cluster default.
	if err := New(Restricted, nil).Check(view(namespace("default", nil)), nil, plain); err == nil {
		t.Fatal("a restricted default admitted a default pod")
	}
	// Privileged as the default admits anything.
	if err := New(Privileged, nil).Check(view(), nil, privilegedPod("default")); err != nil {
		t.Fatalf("privileged default: %v", err)
	}
}

func TestWarnLevelAcceptsWithAWarningPerViolation(t *testing.T) {
	a := New(Baseline, nil)
	v := view(namespace("team", map[string]string{api.LabelPodSecurityWarn: "restricted"}))
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "team"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img"}}}}
	if err := a.Check(v, nil, pod); err != nil {
		t.Fatal(err)
	}
	if len(v.warnings) != 4 {
		t.Fatalf("warnings %q", v.warnings)
	}
	for _, w := range v.warnings {
		if !strings.HasPrefix(w, `pods "web" would violate PodSecurity "restricted": spec.containers[0].securityContext.`) {
			t.Errorf("warning %q", w)
		}
	}
	// A warn level at or below enforce says nothing.
	v = view(namespace("team", map[string]string{api.LabelPodSecurityWarn: "baseline"}))
	if err := a.Check(v, nil, pod); err != nil || len(v.warnings) != 0 {
		t.Fatalf("%v %q", err, v.warnings)
	}
}

func TestWorkloadTemplatesAreCheckedAtWriteTime(t *testing.T) {
	a := New(Baseline, nil)
	tmpl := api.PodTemplateSpec{Spec: privilegedPod("default").Spec}
	for _, obj := range []api.Object{
		&api.Deployment{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"}, Spec: api.DeploymentSpec{Template: tmpl}},
		&api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"}, Spec: api.ReplicaSetSpec{Template: tmpl}},
		&api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"}, Spec: api.DaemonSetSpec{Template: tmpl}},
		&api.Job{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"}, Spec: api.JobSpec{Template: tmpl}},
	} {
		err := a.Check(view(namespace("default", nil)), nil, obj)
		if err == nil || !strings.Contains(err.Error(), "spec.template.spec.containers[0].securityContext.privileged") {
			t.Errorf("%T: %v", obj, err)
		}
	}
	if !strings.Contains(a.Check(view(), nil, &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"},
		Spec: api.DeploymentSpec{Template: tmpl}}).Error(), `deployments.apps "w" is forbidden`) {
		t.Error("the refusal does not name the deployment")
	}
	// Other kinds pass untouched.
	if err := a.Check(view(), nil, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
}

func TestUpdatesThatKeepThePodSpecPassAfterARelabel(t *testing.T) {
	a := New(Baseline, nil)
	v := view(namespace("default", map[string]string{api.LabelPodSecurityEnforce: "restricted"}))
	old := privilegedPod("default")
	bound := privilegedPod("default")
	bound.Spec.NodeName = "node-1"
	bound.Spec.Containers[0].Image = "img:v2"
	bound.Labels = map[string]string{"x": "y"}
	if err := a.Check(v, old, bound); err != nil {
		t.Fatalf("binding a running pod was refused: %v", err)
	}
	changed := privilegedPod("default")
	changed.Spec.HostPID = true
	if err := a.Check(v, old, changed); err == nil {
		t.Fatal("a change of the pod spec was not checked")
	}
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"}, Spec: api.DeploymentSpec{Template: api.PodTemplateSpec{Spec: old.Spec}}}
	scaled := *d
	scaled.Spec.Replicas = api.Int32(3)
	if err := a.Check(v, d, &scaled); err != nil {
		t.Fatalf("scaling was refused: %v", err)
	}
}

func TestNamespaceLabelsAreValidatedAndARelabelWarnsAboutRunningPods(t *testing.T) {
	a := New(Baseline, nil)
	for _, labels := range []map[string]string{
		{api.LabelPodSecurityEnforce: "strict"},
		{api.LabelPodSecurityWarn: "Privileged"},
		{api.LabelPodSecurityAudit: ""},
		{api.LabelPodSecurityEnforceVersion: "1.30"},
	} {
		err := a.Check(view(), nil, namespace("x", labels))
		if !api.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.labels[pod-security.kubernetes.io/") {
			t.Errorf("%v: %v", labels, err)
		}
	}
	if err := a.Check(view(), nil, namespace("x", map[string]string{api.LabelPodSecurityEnforce: "restricted",
		api.LabelPodSecurityEnforceVersion: "v1.30", api.LabelPodSecurityWarnVersion: "latest"})); err != nil {
		t.Fatal(err)
	}
	v := view()
	v.pods = []api.Object{privilegedPod("x"), privilegedPod("elsewhere")}
	err := a.Check(v, namespace("x", map[string]string{api.LabelPodSecurityEnforce: "privileged"}), namespace("x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.warnings) != 2 || !strings.Contains(v.warnings[0], `existing pods in namespace "x" violate`) ||
		!strings.HasPrefix(v.warnings[1], "root: spec.containers[0].securityContext.privileged") {
		t.Fatalf("warnings %q", v.warnings)
	}
}

func TestParseLevel(t *testing.T) {
	for _, s := range []string{"privileged", "baseline", "restricted"} {
		l, err := ParseLevel(s)
		if err != nil || l.String() != s {
			t.Errorf("%s: %v %v", s, l, err)
		}
	}
	if _, err := ParseLevel("Baseline"); err == nil || !strings.Contains(err.Error(), "privileged, baseline or restricted") {
		t.Errorf("%v", err)
	}
}
