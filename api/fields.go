package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// DuplicateFields lists the keys that appear more than once in one JSON
// object of data, as paths ("spec.replicas", "spec.containers[0].name"):
// encoding/json keeps the last silently, and strict field validation
// refuses them as Kubernetes does. Malformed JSON yields no paths (the
// decoder reports it).
func DuplicateFields(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []string
	_ = scanDuplicates(dec, "", &out) // a syntax error ends the scan: the decoder reports it
	return out
}

// scanDuplicates reads one JSON value from dec, recording duplicate keys
// of the objects within it.
func scanDuplicates(dec *json.Decoder, at string, out *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			p := key
			if at != "" {
				p = at + "." + key
			}
			if seen[key] {
				*out = append(*out, p)
			}
			seen[key] = true
			if err := scanDuplicates(dec, p, out); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := scanDuplicates(dec, fmt.Sprintf("%s[%d]", at, i), out); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// UnknownFieldsOf lists the fields of the JSON object data that the Go
// value v (a pointer to a struct) has no field for, as paths; for bodies
// that are not objects of a kind, such as a Scale or a Binding.
func UnknownFieldsOf(v any, data []byte) []string {
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil // the caller's decoder reports it
	}
	var unknown []string
	findUnknown(reflect.TypeOf(v), generic, "", &unknown, false)
	sort.Strings(unknown)
	return unknown
}
