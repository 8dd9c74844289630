package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// ownedRS is a ReplicaSet of d at a revision, as the Deployment controller
// makes it: the template with another image and the hash label.
func ownedRS(d *api.Deployment, hash string, rev, image, cause string) *api.ReplicaSet {
	labels := map[string]string{api.LabelPodTemplateHash: hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	ann := map[string]string{api.AnnotationRevision: rev}
	if cause != "" {
		ann[api.AnnotationChangeCause] = cause
	}
	yes := true
	return &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: labels, Annotations: ann,
			CreationTimestamp: ago(time.Hour),
			OwnerReferences:   []api.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes}}},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(0), Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: d.Name, Image: image,
					Env: []api.EnvVar{{Name: "MODE", Value: "prod"}}}}}}},
	}
}

// historyFixture is deployment web at revision 3 (nginx:1.28), with the
// ReplicaSets of revisions 1 to 3 and one of another deployment.
func historyFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	d := deployment("web", 3, 3, 3, 3, ago(time.Hour))
	d.Annotations = map[string]string{api.AnnotationChangeCause: "bump to 1.28", "team": "front"}
	d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	d.Spec.Template.Spec.Containers[0].Env = []api.EnvVar{{Name: "MODE", Value: "prod"}}
	other := deployment("web2", 1, 1, 1, 1, ago(time.Hour))
	srv.Add(d, other) // the ReplicaSets name their owners' uids
	stranger := ownedRS(other, "zzz", "7", "nginx:1.20", "")
	stranger.Labels["app"] = "web" // matches web's selector, but web does not own it
	srv.Add(ownedRS(d, "bbb", "2", "nginx:1.27", "shoal set image deploy/web web=nginx:1.27"),
		ownedRS(d, "ccc", "3", "nginx:1.28", "bump to 1.28"), ownedRS(d, "aaa", "1", "nginx:1.26", ""), stranger)
	return srv
}

func TestRolloutHistory(t *testing.T) {
	srv := historyFixture(t)
	r := shoal(t, srv, "", "rollout", "history", "deploy/web")
	expectOK(t, r)
	want := `deployment.apps/web
REVISION  CHANGE-CAUSE
1         <none>
2         shoal set image deploy/web web=nginx:1.27
3         bump to 1.28

`
	if r.stdout != want {
		t.Fatalf("got:\n%q\nwant:\n%q", r.stdout, want)
	}

	r = shoal(t, srv, "", "rollout", "history", "deployment", "web", "--revision", "2")
	expectOK(t, r)
	want = `deployment.apps/web with revision #2
Pod Template:
  Labels:       app=web
                pod-template-hash=bbb
  Annotations:  kubernetes.io/change-cause=shoal set image deploy/web web=nginx:1.27
  Containers:
    web:
      Image:  nginx:1.27
      Port:   <none>
      Environment:
        MODE:  prod
      Mounts:  <none>
  Volumes:     <none>

`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = shoal(t, srv, "", "rollout", "history", "deploy/web", "--revision", "9")
	if r.code != 1 || r.stderr != "error: unable to find revision 9 of deployment \"web\"\n" {
		t.Fatalf("missing revision: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "history", "ds/agent")
	if r.code != 1 || !strings.Contains(r.stderr, "does not support daemonsets; it works on deployments") {
		t.Fatalf("history of a daemon set: %d %q", r.code, r.stderr)
	}
}

func TestRolloutUndoSendsTheOldTemplate(t *testing.T) {
	srv := historyFixture(t)
	generation := srv.Object(api.KindDeployment, "default", "web").GetObjectMeta().Generation
	r := shoal(t, srv, "", "rollout", "undo", "deploy/web")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web rolled back\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	var put *clienttest.Request
	for _, q := range srv.Requests() {
		if q.Method == "PUT" {
			put = &q
		}
	}
	if put == nil || put.Path != "/apis/apps/v1/namespaces/default/deployments/web" {
		t.Fatalf("no PUT of the deployment: %+v", put)
	}
	var sent api.Deployment
	if err := json.Unmarshal(put.Body, &sent); err != nil {
		t.Fatal(err)
	}
	// The previous revision's template, without the ReplicaSet's hash label,
	// written only if nobody changed the deployment since it was read.
	if img := sent.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.27" {
		t.Fatalf("sent image %s, want revision 2's nginx:1.27", img)
	}
	if _, has := sent.Spec.Template.Labels[api.LabelPodTemplateHash]; has || sent.Spec.Template.Labels["app"] != "web" {
		t.Fatalf("sent template labels %v", sent.Spec.Template.Labels)
	}
	if sent.ResourceVersion == "" {
		t.Fatal("the PUT must carry the resourceVersion it read")
	}
	// The revision's change cause comes back with it; other annotations of
	// the deployment follow the revision too, as in kubectl.
	if sent.Annotations[api.AnnotationChangeCause] != "shoal set image deploy/web web=nginx:1.27" || sent.Annotations["team"] != "" {
		t.Fatalf("sent annotations %v", sent.Annotations)
	}
	stored := srv.Object(api.KindDeployment, "default", "web").(*api.Deployment)
	if stored.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" || stored.Generation != generation+1 {
		t.Fatalf("stored image %s generation %d", stored.Spec.Template.Spec.Containers[0].Image, stored.Generation)
	}
}

func TestRolloutUndoToRevision(t *testing.T) {
	srv := historyFixture(t)
	r := shoal(t, srv, "", "rollout", "undo", "deploy/web", "--to-revision", "3")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web skipped rollback (current template already matches revision 3)\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = shoal(t, srv, "", "rollout", "undo", "deploy/web", "--to-revision", "1")
	expectOK(t, r)
	if img := srv.Object(api.KindDeployment, "default", "web").(*api.Deployment).Spec.Template.Spec.Containers[0].Image; img != "nginx:1.26" {
		t.Fatalf("image %s after undo to 1", img)
	}
	r = shoal(t, srv, "", "rollout", "undo", "deploy/web", "--to-revision", "7")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: unable to find revision 7 of deployment \"web\"") {
		t.Fatalf("revision of another deployment: %d %q", r.code, r.stderr)
	}
	puts := 0
	for _, q := range srv.Requests() {
		if q.Method == "PUT" {
			puts++
		}
	}
	if puts != 1 {
		t.Fatalf("%d writes, want 1: a skipped rollback and a missing revision write nothing", puts)
	}
}

func TestRolloutUndoRefusals(t *testing.T) {
	srv := clienttest.NewServer(t)
	d := deployment("web", 1, 1, 1, 1, ago(time.Hour))
	srv.Add(d)
	srv.Add(ownedRS(d, "aaa", "1", "nginx:1.27", ""))
	r := shoal(t, srv, "", "rollout", "undo", "deploy/web")
	if r.code != 1 || r.stderr != "error: no rollout history found for deployment \"web\": there is no earlier revision to go back to\n" {
		t.Fatalf("one revision: %d %q", r.code, r.stderr)
	}
	srv.Update(api.KindDeployment, "default", "web", func(o api.Object) { o.(*api.Deployment).Spec.Paused = true })
	r = shoal(t, srv, "", "rollout", "undo", "deploy/web", "--to-revision", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "you cannot roll back a paused deployment; resume it first") {
		t.Fatalf("paused: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "undo", "deploy/nope")
	if r.code != 1 || r.stderr != "Error from server (NotFound): deployments \"nope\" not found\n" {
		t.Fatalf("missing: %d %q", r.code, r.stderr)
	}
}

func TestRolloutPauseResume(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	paused := func() bool { return srv.Object(api.KindDeployment, "default", "web").(*api.Deployment).Spec.Paused }

	r := shoal(t, srv, "", "rollout", "pause", "deploy/web")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web paused\n" || !paused() {
		t.Fatalf("pause: %q, paused %v", r.stdout, paused())
	}
	r = shoal(t, srv, "", "rollout", "pause", "deploy/web")
	if r.code != 1 || r.stderr != "error: deployments.apps \"web\" is already paused\n" || r.stdout != "" {
		t.Fatalf("pause twice: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "resume", "deployment", "web")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web resumed\n" || paused() {
		t.Fatalf("resume: %q, paused %v", r.stdout, paused())
	}
	r = shoal(t, srv, "", "rollout", "resume", "deploy/web")
	if r.code != 1 || r.stderr != "error: deployments.apps \"web\" is not paused\n" {
		t.Fatalf("resume twice: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "pause", "ds/agent")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: shoal rollout pause does not support daemonsets") {
		t.Fatalf("pause a daemon set: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "pause", "deploy")
	if r.code != 1 || !strings.Contains(r.stderr, "name the deployment") {
		t.Fatalf("pause without a name: %d %q", r.code, r.stderr)
	}
}

func daemonSet(name string, desired, updated, available int32, created api.Time) *api.DaemonSet {
	labels := map[string]string{"app": name}
	return &api.DaemonSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created, Labels: labels},
		Spec: api.DaemonSetSpec{
			Selector:       &api.LabelSelector{MatchLabels: labels},
			UpdateStrategy: api.DaemonSetUpdateStrategy{Type: api.RollingUpdateStrategy},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: name, Image: "fluent-bit:3.0"}}}},
		},
		Status: api.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: desired, CurrentNumberScheduled: desired, NumberReady: available,
			UpdatedNumberScheduled: updated, NumberAvailable: available},
	}
}

func TestRolloutRestart(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)), daemonSet("agent", 3, 3, 3, ago(time.Hour)))
	r := shoal(t, srv, "", "rollout", "restart", "deploy/web", "ds/agent")
	expectOK(t, r)
	if r.stdout != "deployment.apps/web restarted\ndaemonset.apps/agent restarted\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	want := fixedNow.Format(time.RFC3339)
	for _, o := range []api.Object{srv.Object(api.KindDeployment, "default", "web"), srv.Object(api.KindDaemonSet, "default", "agent")} {
		tmpl := podTemplateOf(o)
		if got := tmpl.Annotations["kubectl.kubernetes.io/restartedAt"]; got != want {
			t.Errorf("%s: restartedAt %q, want %q", o.GetObjectMeta().Name, got, want)
		}
		if tmpl.Labels["app"] == "" {
			t.Errorf("%s: the rest of the template was lost", o.GetObjectMeta().Name)
		}
	}
	srv.Update(api.KindDeployment, "default", "web", func(o api.Object) { o.(*api.Deployment).Spec.Paused = true })
	r = shoal(t, srv, "", "rollout", "restart", "deploy/web")
	if r.code != 1 || r.stderr != "error: deployments.apps \"web\" can't restart paused deployment (run rollout resume first)\n" {
		t.Fatalf("restart paused: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "restart", "job/x")
	if r.code != 1 || !strings.Contains(r.stderr, "it works on deployments and daemonsets") {
		t.Fatalf("restart a job: %d %q", r.code, r.stderr)
	}
}
