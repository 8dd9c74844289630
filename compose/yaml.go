package compose

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-dev/shoal/api"
)

// WriteYAML writes objects as multi-document YAML, fields in the order of
// their types (apiVersion, kind, metadata, spec), as `shoal apply -f`
// reads it.
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
		var n yaml.Node
		if err := yaml.Unmarshal(j, &n); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", k.Kind, o.GetObjectMeta().Name, err)
		}
		blockStyle(&n)
		if i > 0 {
			out.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(&n); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", k.Kind, o.GetObjectMeta().Name, err)
		}
		_ = enc.Close()
	}
	return out.Bytes(), nil
}

// blockStyle turns JSON's flow style into YAML's block style; the encoder
// quotes the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
