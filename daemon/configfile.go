package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// The agent's configuration file is YAML whose keys are the agent's flag
// names: one table (the flag set) gives the flags, the SHOAL_* variables
// and the keys, so none can drift from another.

// listKeys are the flags that hold a comma-separated list; in the file
// they may also be a YAML list.
var listKeys = []string{"join", "dns-upstream", "api-allowed-hosts", "node-labels"}

// mapKeys are the flags that hold k=v pairs; in the file they may also be
// a YAML mapping.
var mapKeys = []string{"node-labels"}

// maxConfigFile bounds what is read: an agent's settings are a few lines.
const maxConfigFile = 1 << 20

// configKeys lists the flags the file may set: every flag of fs but
// --config itself and --help.
func configKeys(fs *pflag.FlagSet) []string {
	var keys []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != configFlag && f.Name != "help" {
			keys = append(keys, f.Name)
		}
	})
	sort.Strings(keys)
	return keys
}

// applyConfigFile sets from the YAML file at path every flag of fs that
// the command line or the environment did not set. An unknown key, a value
// of the wrong shape or one the flag refuses is an error naming the key,
// and then no flag has been changed.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	values, err := readConfigFile(fs, path)
	if err != nil {
		return err
	}
	// Every value is checked on a copy first, so that a bad key leaves
	// the flags as they were.
	scratch := pflag.NewFlagSet("check", pflag.ContinueOnError)
	bindAgentFlags(scratch, new(Config), new(rawFlags))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if scratch.Lookup(k) == nil {
			continue // a flag of fs only (tests); checked when set below
		}
		if err := scratch.Lookup(k).Value.Set(values[k]); err != nil {
			return fmt.Errorf("%s: key %q: %q: %v", path, k, values[k], err)
		}
	}
	for _, k := range keys {
		f := fs.Lookup(k)
		if f.Changed {
			continue // the command line or the environment wins
		}
		if err := f.Value.Set(values[k]); err != nil {
			return fmt.Errorf("%s: key %q: %q: %v", path, k, values[k], err)
		}
	}
	return nil
}

// readConfigFile parses the file into the text each flag is to be set to.
func readConfigFile(fs *pflag.FlagSet, path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("--config %s: larger than %d bytes; an agent's settings are a few lines", path, maxConfigFile)
	}
	return parseConfig(fs, path, data)
}

// parseConfig turns the YAML document into flag text, refusing duplicate
// and unknown keys.
func parseConfig(fs *pflag.FlagSet, path string, data []byte) (map[string]string, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", path, err)
	}
	out := map[string]string{}
	if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
		return out, nil // an empty file sets nothing
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: the file must be a mapping of keys to values, such as data-dir: /srv/shoal", path)
	}
	known := configKeys(fs)
	for k, v := range doc {
		if !slices.Contains(known, k) {
			return nil, unknownKeyError(path, k, known)
		}
		text, err := flagText(k, v)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", path, k, err)
		}
		out[k] = text
	}
	return out, nil
}

// flagText renders a YAML value as the text its flag takes.
func flagText(key string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", fmt.Errorf("has no value; give one or leave the key out")
	case string:
		return v, nil
	case bool:
		if v {
			return "true", nil
		}
		return "false", nil
	case json.Number:
		return v.String(), nil
	case []any:
		if !slices.Contains(listKeys, key) {
			return "", fmt.Errorf("takes one value, not a list")
		}
		items := make([]string, 0, len(v))
		for i, e := range v {
			s, err := flagText(key, e)
			if err != nil || strings.Contains(s, ",") {
				return "", fmt.Errorf("item %d: give a single value such as a host:port or k=v", i)
			}
			items = append(items, s)
		}
		return strings.Join(items, ","), nil
	case map[string]any:
		if !slices.Contains(mapKeys, key) {
			return "", fmt.Errorf("takes one value, not a mapping")
		}
		pairs := make([]string, 0, len(v))
		for k, e := range v {
			s, err := flagText(key, e)
			if err != nil || strings.Contains(s, ",") {
				return "", fmt.Errorf("%s: give a single text value", k)
			}
			pairs = append(pairs, k+"="+s)
		}
		sort.Strings(pairs)
		return strings.Join(pairs, ","), nil
	}
	return "", fmt.Errorf("unsupported value %v", v)
}

// unknownKeyError names the key and the nearest known one.
func unknownKeyError(path, key string, known []string) error {
	hint := "the keys are the flag names of `shoal agent --help`, such as data-dir"
	if near := nearestKey(key, known); near != "" {
		hint = fmt.Sprintf("did you mean %q? (%s)", near, hint)
	}
	return fmt.Errorf("%s: unknown key %q: %s", path, key, hint)
}

// nearestKey is the known key that key most likely meant: the kebab-case
// spelling of a camelCase or snake_case key, else the closest by edit
// distance if it is close.
func nearestKey(key string, known []string) string {
	var b strings.Builder
	for i, r := range key {
		switch {
		case r == '_':
			b.WriteByte('-')
		case unicode.IsUpper(r):
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	if k := b.String(); slices.Contains(known, k) {
		return k
	}
	best, bestDist := "", 3 // no more than two edits away
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
