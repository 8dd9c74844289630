package registry

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// FuzzValidateRecord feeds any key and value to the validation of
// received object records: it must refuse or accept, never panic, and
// accept only what decodes as an object named by its key.
func FuzzValidateRecord(f *testing.F) {
	p, _ := json.Marshal(pod("web", "default", goodUID))
	f.Add("o/pods/default/web", p, false)
	f.Add("s/pods/default/web", []byte(`{"uid":"`+goodUID+`","status":{"phase":"Running"}}`), false)
	f.Add("o/nodes//h1", []byte(`{"kind":"Node","apiVersion":"v1","metadata":{"name":"h1","uid":"`+goodUID+`"}}`), false)
	f.Add("o/pods/default/../../x", []byte(nil), true)
	dep, _ := json.Marshal(func() api.Object {
		d := testDeployment("web", 2)
		d.UID = goodUID
		setTypeMeta(api.KindDeployment, d)
		return d
	}())
	f.Add("o/deployments/default/web", dep, false)
	o := &Registry{}
	f.Fuzz(func(t *testing.T, key string, value []byte, deleted bool) {
		r := &gossip.Record{Key: key, Version: gossip.Version{Time: 1, Node: "n"}, Value: value, Deleted: deleted}
		if err := o.ValidateRecord(r); err != nil || deleted {
			return
		}
		k, ns, name, err := parseObjectKey(key)
		if err != nil {
			t.Fatalf("accepted %q with a key that does not parse: %v", key, err)
		}
		if bytes.HasPrefix([]byte(key), []byte(specPrefix)) {
			obj := k.NewObject()
			if json.Unmarshal(value, obj) != nil || obj.GetObjectMeta().Name != name || obj.GetObjectMeta().Namespace != ns {
				t.Fatalf("accepted %q whose value does not name it", key)
			}
		}
	})
}
