package registry

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Every record the registry itself writes (objects of every kind, their
// status, tombstones) passes the validation a receiving agent applies: a
// healthy cluster never refuses its own writes.
func TestEveryRecordTheRegistryWritesIsValid(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	replicas := int32(2)
	objs := []api.Object{
		&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a"}},
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "h1.example", Labels: map[string]string{"zone": "a"}},
			Status: api.NodeStatus{Addresses: []api.NodeAddress{{Type: "InternalIP", Address: "10.0.0.1"}}}},
		&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"a.conf": "x=1"}},
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "s", Namespace: "default"}, Data: map[string][]byte{"pw": []byte("hunter2")}},
		testDeployment("web", replicas),
		&api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}},
		&api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []api.ServicePort{{Port: 80}}}},
		&api.Job{ObjectMeta: api.ObjectMeta{Name: "once", Namespace: "default"},
			Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: "Never",
				Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}},
		&api.Event{ObjectMeta: api.ObjectMeta{Name: "p.1", Namespace: "default"},
			InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "p", Namespace: "default"}, Reason: "Started"},
	}
	if _, err := o.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	pod, _ := o.Get(ctx, api.KindPod, "default", "p")
	pod.(*api.Pod).Status.Phase = api.PodRunning
	pod.(*api.Pod).Status.PodIP = "10.244.1.5"
	if _, err := o.UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(ctx, api.KindConfigMap, "default", "cfg", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	o.Store().All(func(r *gossip.Record) {
		n++
		if err := o.RecordValidators().Validate(r); err != nil {
			t.Errorf("the registry's own record %s (deleted=%v) is refused: %v", r.Key, r.Deleted, err)
		}
	})
	if n < len(objs)+2 {
		t.Fatalf("only %d records", n)
	}
}

func specRecord(t *testing.T, key string, obj any) *gossip.Record {
	t.Helper()
	v, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &gossip.Record{Key: key, Version: gossip.Version{Time: 1 << 40, Node: "h2"}, Value: v}
}

const goodUID = "5a4c0a2e-7c1e-4f7e-9d55-0d6c1c9a3b10"

func pod(name, ns, uid string) *api.Pod {
	return &api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, UID: uid},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
}

// What the review injected, and its neighbours, is refused; the errors
// never quote the value.
func TestValidateRecordRefusesWhatTheAPIWould(t *testing.T) {
	o := newTestObjects(t, "")
	v := o.RecordValidators()
	good := specRecord(t, "o/pods/default/web", pod("web", "default", goodUID))
	if err := v.Validate(good); err != nil {
		t.Fatalf("a valid pod record is refused: %v", err)
	}
	secretValue := "s3cr3t-value-never-logged"
	bad := map[string]*gossip.Record{
		"pod named ../../x (key)":      specRecord(t, "o/pods/default/../../x", pod("../../x", "default", goodUID)),
		"pod named ../../x (metadata)": specRecord(t, "o/pods/default/x", pod("../../x", "default", goodUID)),
		"uid ../../victimdir":          specRecord(t, "o/pods/default/web", pod("web", "default", "../../victimdir")),
		"empty uid":                    specRecord(t, "o/pods/default/web", pod("web", "default", "")),
		"name differs from the key":    specRecord(t, "o/pods/default/web", pod("other", "default", goodUID)),
		"namespace differs":            specRecord(t, "o/pods/default/web", pod("web", "kube-system", goodUID)),
		"kind differs from the key":    specRecord(t, "o/configmaps/default/web", pod("web", "default", goodUID)),
		"unknown resource":             specRecord(t, "o/widgets/default/web", pod("web", "default", goodUID)),
		"namespaced kind without ns":   specRecord(t, "o/pods//web", pod("web", "", goodUID)),
		"cluster kind with a ns":       {Key: "o/nodes/default/h1", Version: good.Version, Deleted: true},
		"namespace not a label":        specRecord(t, "o/pods/Default/web", pod("web", "Default", goodUID)),
		"invalid spec (no containers)": specRecord(t, "o/pods/default/web", &api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod", APIVersion: "v1"}, ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", UID: goodUID}}),
		"not JSON":                     {Key: "o/pods/default/web", Version: good.Version, Value: []byte("{" + secretValue)},
		"wrong JSON type":              {Key: "o/secrets/default/s", Version: good.Version, Value: []byte(`{"kind":"Secret","apiVersion":"v1","data":"` + secretValue + `"}`)},
		"secret with a bad key":        specRecord(t, "o/secrets/default/s", &api.Secret{TypeMeta: api.TypeMeta{Kind: "Secret", APIVersion: "v1"}, ObjectMeta: api.ObjectMeta{Name: "s", Namespace: "default", UID: goodUID}, Data: map[string][]byte{"../x": []byte(secretValue)}}),
		"status of a kind without":     {Key: "s/configmaps/default/c", Version: good.Version, Value: []byte(`{"uid":"` + goodUID + `","status":{}}`)},
		"status with a path uid":       {Key: "s/pods/default/web", Version: good.Version, Value: []byte(`{"uid":"../../victimdir","status":{}}`)},
		"status that is not a status":  {Key: "s/pods/default/web", Version: good.Version, Value: []byte(`{"uid":"` + goodUID + `","status":{"phase":7}}`)},
		"tombstone of a bad key":       {Key: "o/pods/default/../../x", Version: good.Version, Deleted: true},
		"unknown prefix":               {Key: "z/anything", Version: good.Version, Value: []byte("x")},
		"system prefix not registered": {Key: "x/tokens/admin", Version: good.Version, Value: []byte("x")},
		"no prefix":                    {Key: "plain", Version: good.Version, Value: []byte("x")},
		"too many segments":            {Key: "o/pods/default/web/extra", Version: good.Version, Deleted: true},
	}
	for name, r := range bad {
		err := v.Validate(r)
		if !errors.Is(err, gossip.ErrInvalidRecord) {
			t.Errorf("%s: got %v, want ErrInvalidRecord", name, err)
			continue
		}
		if strings.Contains(err.Error(), secretValue) {
			t.Errorf("%s: the error quotes the value: %v", name, err)
		}
	}
	tomb := &gossip.Record{Key: "o/pods/default/web", Version: good.Version, Deleted: true}
	status := &gossip.Record{Key: "s/pods/default/web", Version: good.Version, Value: []byte(`{"uid":"` + goodUID + `","status":{"phase":"Running"}}`)}
	for _, r := range []*gossip.Record{tomb, status} {
		if err := v.Validate(r); err != nil {
			t.Errorf("%s refused: %v", r.Key, err)
		}
	}
	// A validator registered for a prefix is used for it.
	v["x/"] = func(*gossip.Record) error { return nil }
	if err := v.Validate(bad["system prefix not registered"]); err != nil {
		t.Fatalf("a registered prefix: %v", err)
	}
}

// The largest objects the API accepts fit the record bound: 1 MiB of
// Secret or ConfigMap data (binary data in base64) plus 256 KiB of
// annotations. One whose JSON escaping blows past it is refused at write
// time, naming the size, so that nothing is stored that others refuse.
func TestLargestObjectsFitTheRecordBound(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	annotations := map[string]string{}
	for i := range 4 {
		annotations[fmt.Sprintf("example.com/a%d", i)] = strings.Repeat("a", 64<<10-32)
	}
	bin := make([]byte, api.MaxConfigSize)
	rand.Read(bin)
	text := strings.Repeat("0123456789abcdef", api.MaxConfigSize/16)
	for _, obj := range []api.Object{
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "big-secret", Namespace: "default", Annotations: annotations}, Data: map[string][]byte{"blob": bin}},
		&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "big-binary", Namespace: "default", Annotations: annotations}, BinaryData: map[string][]byte{"blob": bin}},
		&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "big-text", Namespace: "default", Annotations: annotations}, Data: map[string]string{"f": text}},
	} {
		if _, err := o.Create(ctx, obj); err != nil {
			t.Fatalf("%s: %v", obj.GetObjectMeta().Name, err)
		}
		k := api.KindOf(obj)
		r := o.Store().Get(specKey(k, "default", obj.GetObjectMeta().Name))
		t.Logf("%s %s: %d bytes stored (bound %d)", k.Kind, obj.GetObjectMeta().Name, len(r.Value), gossip.MaxValueSize)
		if err := gossip.CheckRecord(r, o.Store().Clock().Bound()); err != nil {
			t.Fatalf("%s: %v", obj.GetObjectMeta().Name, err)
		}
	}
	escaped := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "html", Namespace: "default"},
		Data: map[string]string{"page": strings.Repeat("<", api.MaxConfigSize)}} // 6 bytes each as JSON
	_, err := o.Create(ctx, escaped)
	if api.ReasonOf(err) != api.ReasonTooLarge || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("an object encoding beyond the bound: %v, want 413 naming the bound", err)
	}
	if o.Store().Get(specKey(api.KindConfigMap, "default", "html")) != nil {
		t.Fatal("the oversized object was stored")
	}
}

// BenchmarkValidateRecord measures the check of one received pod record
// (decode, defaulting, validation), the cost an agent pays per new record
// it receives.
func BenchmarkValidateRecord(b *testing.B) {
	p := pod("web-5d8f7c9b6d-x2x4q", "default", goodUID)
	p.Labels = map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b6d"}
	p.Spec.Containers[0].Env = []api.EnvVar{{Name: "MODE", Value: "production"}}
	v, _ := json.Marshal(p)
	r := &gossip.Record{Key: "o/pods/default/web-5d8f7c9b6d-x2x4q", Version: gossip.Version{Time: 1 << 40, Node: "h1"}, Value: v}
	o := &Registry{}
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if err := o.ValidateRecord(r); err != nil {
			b.Fatal(err)
		}
	}
}
