package compose

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
)

// WriteYAML writes objects as multi-document YAML, as `shoal apply -f`
// reads it. It goes through the same YAML library as the server's decoder
// (YAML 1.1, keys sorted as kubectl prints them), so that a string such as
// "Y" or "0440" is quoted and stays a string.
func WriteYAML(objs []api.Object) ([]byte, error) {
	var out bytes.Buffer
	for i, o := range objs {
		k := api.KindOf(o)
		tm := o.GetTypeMeta()
		tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
		j, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", k.Kind, o.GetObjectMeta().Name, err)
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", k.Kind, o.GetObjectMeta().Name, err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
	}
	return out.Bytes(), nil
}
