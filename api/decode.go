package api

import (
	"bytes"
	"encoding/json"
	"errors"
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
	if err := CheckNesting(data, DefaultMaxDepth); err != nil {
		return nil, err
	}
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
	if err := CheckNesting(data, DefaultMaxDepth); err != nil {
		return nil, nil, err
	}
	obj := k.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, nil, describeJSONError(err)
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil, nil, describeJSONError(err)
	}
	var unknown []string
	findUnknown(reflect.TypeOf(obj).Elem(), generic, "", &unknown, false)
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
// PruneUnknown removes from doc, the decoded JSON of an object of kind k,
// the members k's type does not have (those DecodeInto lists), and returns
// their paths.
func PruneUnknown(k *Kind, doc map[string]any) []string {
	var unknown []string
	findUnknown(reflect.TypeOf(k.New()).Elem(), doc, "", &unknown, true)
	sort.Strings(unknown)
	return unknown
}

// findUnknown lists the members of v that t does not have, removing them
// when drop is set.
func findUnknown(t reflect.Type, v any, at string, out *[]string, drop bool) {
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
				if drop {
					delete(m, key)
				}
				continue
			}
			findUnknown(ft, val, p, out, drop)
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
			findUnknown(t.Elem(), item, fmt.Sprintf("%s[%d]", at, i), out, drop)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for key, val := range m {
			findUnknown(t.Elem(), val, at+"["+key+"]", out, drop)
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
// skipped; a List kind is expanded into its items. It applies the default
// limits (see SplitDocumentsLimited).
func SplitDocuments(r io.Reader) ([][]byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	return SplitDocumentsLimited(data, DefaultDecodeLimits)
}

// SplitDocumentsLimited is SplitDocuments within lim: the documents are
// counted and measured before any is converted, so that a stream of too many
// objects, or a document too large, costs no more than reading it; YAML
// aliases are measured before they are expanded, and nesting before it is
// decoded. Errors over a limit are StatusErrors (413 or 400).
func SplitDocumentsLimited(data []byte, lim DecodeLimits) ([][]byte, error) {
	lim = lim.withDefaults()
	raw := splitStream(data, lim.MaxObjects+1)
	if len(raw) > lim.MaxObjects {
		return nil, tooManyObjects(lim.MaxObjects)
	}
	for _, d := range raw {
		if len(d.text) > lim.MaxDocumentBytes {
			return nil, docError(d.n, documentTooLarge(len(d.text), lim.MaxDocumentBytes))
		}
	}
	var docs [][]byte
	for _, d := range raw {
		j, err := DocumentToJSON(d.text, lim)
		if err != nil {
			return nil, docError(d.n, err)
		}
		if j == nil {
			continue
		}
		if len(j) == 0 || j[0] != '{' {
			return nil, fmt.Errorf("document %d: expected an object with apiVersion and kind, got %s", d.n, truncate(string(j), 60))
		}
		items, err := expandList(j)
		if err != nil {
			return nil, fmt.Errorf("document %d: %v", d.n, err)
		}
		if len(docs)+len(items) > lim.MaxObjects {
			return nil, tooManyObjects(lim.MaxObjects)
		}
		docs = append(docs, items...)
	}
	return docs, nil
}

// docError names the document an error is about, keeping a StatusError's
// code and reason.
func docError(n int, err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		c := *se
		c.ErrStatus.Message = fmt.Sprintf("document %d: %s", n, se.ErrStatus.Message)
		return &c
	}
	return fmt.Errorf("document %d: %w", n, err)
}

// rawDocument is the text of one document of a stream and its number
// (counting empty documents, as a person counting "---" lines would).
type rawDocument struct {
	n    int
	text []byte
}

// splitStream cuts a stream at its "---" lines and drops documents that hold
// only comments and blank lines; it stops after max documents. It copies
// nothing.
func splitStream(data []byte, max int) []rawDocument {
	var out []rawDocument
	n, start := 1, 0
	add := func(end int) {
		if text := data[start:end]; hasContent(text) {
			out = append(out, rawDocument{n: n, text: text})
		}
	}
	for pos := 0; pos < len(data) && len(out) < max; {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			end += pos
			next = end + 1
		} else {
			end = len(data)
		}
		line := data[pos:end]
		if bytes.HasPrefix(line, []byte("---")) && len(bytes.TrimSpace(bytes.TrimLeft(line, "-"))) == 0 {
			add(pos)
			n++
			start = next
		}
		pos = next
	}
	if len(out) < max {
		add(len(data))
	}
	return out
}

// hasContent reports whether text holds a line that is neither blank nor a
// comment.
func hasContent(text []byte) bool {
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

// DocumentToJSON converts one YAML or JSON document to JSON within lim; it
// returns nil for a document that is empty or null. JSON is checked for
// nesting and passed through as it is; YAML has its aliases measured first.
func DocumentToJSON(doc []byte, lim DecodeLimits) ([]byte, error) {
	lim = lim.withDefaults()
	if len(doc) > lim.MaxDocumentBytes {
		return nil, documentTooLarge(len(doc), lim.MaxDocumentBytes)
	}
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		// JSON, or YAML in flow style such as {a: [b]}: either way its
		// nesting shows in brackets, and is refused before any parser
		// recurses into it.
		if err := CheckNesting(trimmed, lim.MaxDepth); err != nil {
			return nil, err
		}
		if trimmed[0] == '{' && json.Valid(trimmed) {
			return trimmed, nil
		}
	}
	if err := checkYAMLExpansion(doc, lim); err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %v", err)
	}
	if err := CheckNesting(j, lim.MaxDepth); err != nil {
		return nil, err
	}
	if string(j) == "null" {
		return nil, nil
	}
	return j, nil
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
