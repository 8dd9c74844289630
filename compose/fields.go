package compose

import (
	"reflect"
	"strings"
)

// yamlName is the compose key of a struct field: its yaml tag's name, "" for
// an inline (squashed) struct, "-" for a field compose never reads.
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(opts, "inline") && !strings.HasPrefix(name, "#") {
		return ""
	}
	if name == "" {
		if tag == "" {
			return "-"
		}
		return strings.ToLower(f.Name)
	}
	if strings.HasPrefix(name, "#") {
		return "-" // #extensions: x- keys, which compose leaves to tools
	}
	return name
}

// elem steps through pointers, slices and maps to the type of one element.
func elem(t reflect.Type) reflect.Type {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return t
		}
	}
}

// keyPaths lists the dotted compose keys of a struct type, children after
// their parent, stopping under any path stop reports true for.
func keyPaths(t reflect.Type, prefix string, stop func(string) bool, out *[]string) {
	t = elem(t)
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := yamlName(f)
		switch name {
		case "-":
			continue
		case "":
			keyPaths(f.Type, prefix, stop, out)
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		*out = append(*out, p)
		if stop(p) {
			continue
		}
		keyPaths(f.Type, p, stop, out)
	}
}

// valuesAt finds the values at a dotted compose key under v, through
// pointers, slices and maps (every element), skipping nil and zero ones.
func valuesAt(v reflect.Value, path []string) []reflect.Value {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if len(path) == 0 {
		if v.IsZero() {
			return nil
		}
		return []reflect.Value{v}
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		var out []reflect.Value
		for i := range v.Len() {
			out = append(out, valuesAt(v.Index(i), path)...)
		}
		return out
	case reflect.Map:
		var out []reflect.Value
		it := v.MapRange()
		for it.Next() {
			out = append(out, valuesAt(it.Value(), path)...)
		}
		return out
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			switch yamlName(f) {
			case "":
				if r := valuesAt(v.Field(i), path); r != nil {
					return r
				}
			case path[0]:
				return valuesAt(v.Field(i), path[1:])
			}
		}
	}
	return nil
}
