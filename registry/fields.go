package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The field-level merge sees a stored object as a set of registers, each a
// path into its JSON and the value there, and merges two versions of an
// object register by register (merge.go). A register is:
//
//   - a scalar (string, number, boolean, null), an empty object or an
//     empty list;
//   - a list without a merge key, whole (a change anywhere in it is a
//     change of the list);
//   - an element of a list with a merge key (listRules), whole, for lists
//     whose elements are atomic (env by name, conditions by type);
//   - the existence of an element of a list whose elements merge field by
//     field (containers by name: the image of one container and the env
//     of another are different registers), each of its fields a register
//     of its own;
//   - the order of a keyed list's elements.
//
// Objects (maps and structs) are not registers: they exist while a
// register under them does, so two new labels added apart both stay.
//
// A path is the '/'-joined list of tokens from the root: a member name
// (with '~' written "~0" and '/' "~1", and "~2" before a name starting
// with '[' or '#'), "[key]" for an element of a keyed list (the key
// escaped the same way), and "#" for the order of a keyed list.

// listRule says how the elements of a list named by its member are told
// apart (the merge key Kubernetes' strategic merge patch uses), and whether
// an element merges field by field or is one register.
type listRule struct {
	keys      []string // the first one every element has, as a string or number
	fieldwise bool
}

var listRules = map[string]listRule{
	"containers":            {keys: []string{"name"}, fieldwise: true},
	"initContainers":        {keys: []string{"name"}, fieldwise: true},
	"env":                   {keys: []string{"name"}},
	"volumes":               {keys: []string{"name"}},
	"volumeMounts":          {keys: []string{"mountPath"}},
	"ports":                 {keys: []string{"containerPort", "port"}},
	"conditions":            {keys: []string{"type"}},
	"containerStatuses":     {keys: []string{"name"}},
	"initContainerStatuses": {keys: []string{"name"}},
	"ownerReferences":       {keys: []string{"uid"}},
}

// existence is the value of the register that says a field-merged element
// is there.
var existence = []byte("true")

func escapeToken(s string) string {
	s = strings.ReplaceAll(s, "~", "~0")
	s = strings.ReplaceAll(s, "/", "~1")
	if strings.HasPrefix(s, "[") || strings.HasPrefix(s, "#") {
		s = "~2" + s
	}
	return s
}

func unescapeToken(s string) string {
	s = strings.TrimPrefix(s, "~2")
	s = strings.ReplaceAll(s, "~1", "/")
	return strings.ReplaceAll(s, "~0", "~")
}

func join(path, token string) string {
	if path == "" {
		return token
	}
	return path + "/" + token
}

// parseJSON decodes JSON keeping numbers as written.
func parseJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// canonical encodes a generic JSON value as json.Marshal does (maps
// sorted), without reflection for the scalars that most registers are.
func canonical(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("null")
	case bool:
		if x {
			return []byte("true")
		}
		return []byte("false")
	case json.Number:
		if x != "" {
			return []byte(x)
		}
	case string:
		if plainString(x) {
			b := make([]byte, 0, len(x)+2)
			b = append(b, '"')
			b = append(b, x...)
			return append(b, '"')
		}
	}
	b, _ := json.Marshal(v) // generic values always encode; maps sorted
	return b
}

// plainString reports a string json.Marshal writes as it is, in quotes:
// printable ASCII without the characters it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// flatten returns the registers of a JSON object, leaving out skip's
// top-level members.
func flatten(root map[string]any, skip ...string) map[string][]byte {
	out := map[string][]byte{}
	for name, v := range root {
		if !slices.Contains(skip, name) {
			flattenValue(out, escapeToken(name), name, v)
		}
	}
	return out
}

func flattenValue(out map[string][]byte, path, name string, v any) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = []byte("{}")
			return
		}
		for k, c := range x {
			flattenValue(out, join(path, escapeToken(k)), k, c)
		}
	case []any:
		rule, ok := listRules[name]
		if !ok || len(x) == 0 {
			out[path] = canonical(x)
			return
		}
		keys, ok := elementKeys(x, rule)
		if !ok {
			out[path] = canonical(x)
			return
		}
		order := make([]string, len(x))
		for i, el := range x {
			tok := "[" + escapeToken(keys[i]) + "]"
			order[i] = tok
			ep := join(path, tok)
			if !rule.fieldwise {
				out[ep] = canonical(el)
				continue
			}
			out[ep] = existence
			for k, c := range el.(map[string]any) {
				flattenValue(out, join(ep, escapeToken(k)), k, c)
			}
		}
		out[join(path, "#")] = canonical(order)
	default:
		out[path] = canonical(x)
	}
}

// elementKeys returns the merge key of every element, or false when the
// list cannot be keyed (an element that is not an object, lacks every key
// of the rule, or repeats a key): it is then one register.
func elementKeys(list []any, rule listRule) ([]string, bool) {
	var key string
	for _, k := range rule.keys {
		if m, ok := list[0].(map[string]any); ok && m[k] != nil {
			key = k
			break
		}
	}
	if key == "" {
		return nil, false
	}
	out := make([]string, len(list))
	seen := map[string]bool{}
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, false
		}
		switch k := m[key].(type) {
		case string:
			out[i] = k
		case json.Number:
			out[i] = k.String()
		default:
			return nil, false
		}
		if seen[out[i]] {
			return nil, false
		}
		seen[out[i]] = true
	}
	return out, true
}

// node is one path of the tree render builds.
type node struct {
	val      []byte
	children map[string]*node
}

// render builds the JSON object the registers describe (see the rules at
// the top of this file). Where registers disagree on the shape (a scalar
// and fields under it), the fields win; a field-merged element whose
// existence register is gone is left out with its fields (a delete wins).
func render(regs map[string][]byte) (map[string]any, error) {
	root := &node{children: map[string]*node{}}
	for path, v := range regs {
		n := root
		for _, tok := range strings.Split(path, "/") {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			c := n.children[tok]
			if c == nil {
				c = &node{}
				n.children[tok] = c
			}
			n = c
		}
		n.val = v
	}
	out := map[string]any{}
	for tok, c := range root.children {
		v, ok, err := c.value()
		if err != nil {
			return nil, err
		}
		if ok {
			out[unescapeToken(tok)] = v
		}
	}
	return out, nil
}

func isElement(tok string) bool { return strings.HasPrefix(tok, "[") }

func (n *node) value() (any, bool, error) {
	if len(n.children) == 0 {
		if n.val == nil {
			return nil, false, nil
		}
		v, err := parseJSON(n.val)
		return v, err == nil, err
	}
	elements := false
	for tok := range n.children {
		if isElement(tok) {
			elements = true
			break
		}
	}
	if !elements {
		obj := map[string]any{}
		for tok, c := range n.children {
			if tok == "#" {
				continue
			}
			v, ok, err := c.value()
			if err != nil {
				return nil, false, err
			}
			if ok {
				obj[unescapeToken(tok)] = v
			}
		}
		if len(obj) == 0 && n.val != nil {
			return n.value0()
		}
		return obj, len(obj) > 0, nil
	}
	// A keyed list: its elements in the order register's order, then any
	// other present element by key.
	var order []string
	if o := n.children["#"]; o != nil && o.val != nil {
		_ = json.Unmarshal(o.val, &order)
	}
	var toks []string
	placed := map[string]bool{}
	for _, tok := range order {
		if c := n.children[tok]; c != nil && isElement(tok) && !placed[tok] {
			toks = append(toks, tok)
			placed[tok] = true
		}
	}
	var rest []string
	for tok := range n.children {
		if isElement(tok) && !placed[tok] {
			rest = append(rest, tok)
		}
	}
	slices.Sort(rest)
	list := []any{}
	for _, tok := range append(toks, rest...) {
		c := n.children[tok]
		if c.val == nil {
			continue // its existence (or the whole element) was removed
		}
		if !bytes.Equal(c.val, existence) {
			v, err := parseJSON(c.val)
			if err != nil {
				return nil, false, err
			}
			list = append(list, v)
			continue
		}
		obj := map[string]any{}
		for ft, fc := range c.children {
			v, ok, err := fc.value()
			if err != nil {
				return nil, false, err
			}
			if ok {
				obj[unescapeToken(ft)] = v
			}
		}
		list = append(list, obj)
	}
	return list, true, nil
}

// value0 is the node's own value, ignoring its children.
func (n *node) value0() (any, bool, error) {
	v, err := parseJSON(n.val)
	if err != nil {
		return nil, false, fmt.Errorf("a register's value: %w", err)
	}
	return v, true, nil
}
