package podsecurity

import (
	"encoding/json"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// FuzzCheck: any pod spec that decodes is judged without a panic;
// privileged admits everything and restricted refuses at least what
// baseline refuses.
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		`{"containers":[{"name":"a","image":"i"}]}`,
		`{"hostNetwork":true,"hostPID":true,"volumes":[{"name":"h","hostPath":{"path":"/"}}],"containers":[{"name":"a","securityContext":{"privileged":true,"capabilities":{"add":["ALL"]}}}]}`,
		`{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"},"sysctls":[{"name":"kernel.msgmax","value":"1"}]},"initContainers":[{"name":"i","ports":[{"hostPort":22}]}],"containers":[{"name":"a","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]},"procMount":"Unmasked","seccompProfile":{"type":"Unconfined"}}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s api.PodSpec
		if json.Unmarshal(data, &s) != nil {
			return
		}
		if vs := Check(Privileged, &s, "spec"); len(vs) != 0 {
			t.Fatalf("privileged refused: %v", vs)
		}
		strict := map[string]bool{}
		for _, v := range Check(Restricted, &s, "spec") {
			strict[v.Check+"@"+v.Field] = true
		}
		for _, v := range Check(Baseline, &s, "spec") {
			if v.Field == "" || v.Detail == "" {
				t.Fatalf("a violation without field or detail: %+v", v)
			}
			if !strict[v.Check+"@"+v.Field] {
				t.Fatalf("restricted misses the baseline violation %+v", v)
			}
		}
	})
}
