package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Decoded is one object read from user input, with the unknown fields found in it.
type Decoded struct {
	Kind          *Kind
	Object        Object
	UnknownFields []string // field paths present in the input that shoal does not know
}

// Decode reads one JSON object of any registered kind.
func Decode(data []byte) (*Decoded, error) {
	var tm TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("body: not a JSON object: %v", err)
	}
	k, err := KindFor(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	obj, unknown, err := DecodeInto(k, data)
	if err != nil {
		return nil, err
	}
	return &Decoded{Kind: k, Object: obj, UnknownFields: unknown}, nil
}

// DecodeInto reads JSON into a new object of kind k and lists unknown fields.
func DecodeInto(k *Kind, data []byte) (Object, []string, error) {
	obj := k.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, nil, describeJSONError(err)
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil, nil, describeJSONError(err)
	}
	var unknown []string
	findUnknown(reflect.TypeOf(obj).Elem(), generic, "", &unknown)
	sort.Strings(unknown)
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
	return obj, unknown, nil
}

func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if ok := asTypeError(err, &te); ok {
		field := te.Field
		if field == "" {
			field = "<root>"
		}
		return FieldErrors{{Field: field, Type: ErrTypeInvalid,
			Detail: fmt.Sprintf("expected %s, got a JSON %s", te.Type, te.Value)}}
	}
	return fmt.Errorf("body: %v", err)
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// findUnknown walks the generic JSON value alongside the Go type and records
// every key the type has no field for.
func findUnknown(t reflect.Type, v any, at string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for key, val := range m {
			ft, ok := fields[key]
			p := key
			if at != "" {
				p = at + "." + key
			}
			if !ok {
				*out = append(*out, p)
				continue
			}
			findUnknown(ft, val, p, out)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return
		}
		list, ok := v.([]any)
		if !ok {
			return
		}
		for i, item := range list {
			findUnknown(t.Elem(), item, fmt.Sprintf("%s[%d]", at, i), out)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for key, val := range m {
			findUnknown(t.Elem(), val, at+"["+key+"]", out)
		}
	}
}

// jsonFields maps JSON names to field types, following inlined embedded structs.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// SplitDocuments turns a stream of YAML or JSON documents (separated by "---"
// lines, as kubectl reads them) into JSON documents. Empty documents are
// skipped; a List kind is expanded into its items.
func SplitDocuments(r io.Reader) ([][]byte, error) {
	var docs [][]byte
	var cur bytes.Buffer
	n := 0
	flush := func() error {
		n++
		text := cur.Bytes()
		cur.Reset()
		if len(bytes.TrimSpace(stripComments(text))) == 0 {
			return nil
		}
		j, err := yaml.YAMLToJSON(text)
		if err != nil {
			return fmt.Errorf("document %d: invalid YAML: %v", n, err)
		}
		if string(j) == "null" {
			return nil
		}
		if len(j) == 0 || j[0] != '{' {
			return fmt.Errorf("document %d: expected an object with apiVersion and kind, got %s", n, truncate(string(j), 60))
		}
		items, err := expandList(j)
		if err != nil {
			return fmt.Errorf("document %d: %v", n, err)
		}
		docs = append(docs, items...)
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func expandList(j []byte) ([][]byte, error) {
	var head struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j, &head); err != nil {
		return nil, err
	}
	if head.Kind != "List" && !(strings.HasSuffix(head.Kind, "List") && head.Items != nil) {
		return [][]byte{j}, nil
	}
	out := make([][]byte, len(head.Items))
	for i, it := range head.Items {
		out[i] = it
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
