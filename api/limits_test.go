package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// billionLaughs is the classic alias bomb: nine levels of nine aliases each.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
	}
	return b.String()
}

// repeatedScalar is 1 MiB of text repeated a thousand times by aliases: few
// alias nodes, a gigabyte of JSON.
func repeatedScalar() string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbig: &b \"" + strings.Repeat("x", 1<<20) +
		"\"\nrefs: [" + strings.Repeat("*b,", 1000) + "*b]\n"
}

func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// heapGrowth runs f and reports how much the heap grew while it ran, at most.
func heapGrowth(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	// TotalAlloc counts every allocation, so it bounds the peak from above.
	return after.TotalAlloc - before.TotalAlloc
}

func TestSplitDocumentsRefusesBombsBeforeExpanding(t *testing.T) {
	deepJSON := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":` +
		strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000) + "}"
	deepArray := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepFlowYAML := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: " + strings.Repeat("{a: ", 5000) + "1" + strings.Repeat("}", 5000) + "\n"
	cases := []struct {
		name, body string
		code       int
		mention    string
	}{
		{"billion laughs", billionLaughs(), http.StatusRequestEntityTooLarge, "aliases"},
		{"one large string repeated", repeatedScalar(), http.StatusRequestEntityTooLarge, "aliases"},
		{"deep JSON", deepJSON, http.StatusBadRequest, "nest more than 100 levels"},
		{"deep array", deepArray, http.StatusBadRequest, "nest more than 100 levels"},
		{"deep flow YAML", deepFlowYAML, http.StatusBadRequest, "nest more than 100 levels"},
		{"alias of itself", "a: &a [1, *a]\n", http.StatusBadRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			grew := heapGrowth(func() { _, err = SplitDocuments(strings.NewReader(c.body)) })
			if err == nil {
				t.Fatal("accepted")
			}
			if statusCode(err) != c.code || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("error %d %q, want %d mentioning %q", statusCode(err), err, c.code, c.mention)
			}
			// The input itself is at most a few MiB; expanding any of these
			// costs hundreds of MiB to GiB.
			if limit := uint64(8*len(c.body)) + 16<<20; grew > limit {
				t.Fatalf("allocated %d MiB refusing a %d byte input", grew>>20, len(c.body))
			}
		})
	}
}

func TestSplitDocumentsCountsObjectsBeforeConverting(t *testing.T) {
	var many strings.Builder
	for i := 0; many.Len() < 12<<20; i++ {
		fmt.Fprintf(&many, "---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: c%d}\n", i)
	}
	body := []byte(many.String())
	var err error
	grew := heapGrowth(func() { _, err = SplitDocumentsLimited(body, DefaultDecodeLimits) })
	if statusCode(err) != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), "more than 1000 objects") {
		t.Fatalf("error %v", err)
	}
	// Converting 168,000 documents costs gigabytes; counting them, a
	// slice of offsets.
	if grew > 32<<20 {
		t.Fatalf("allocated %d MiB refusing %d bytes of documents", grew>>20, len(body))
	}

	lim := DecodeLimits{MaxObjects: 3}
	ok := "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n"
	if docs, err := SplitDocumentsLimited([]byte(ok+"---\n# only a comment\n---\n"+ok+"---\n"+ok), lim); err != nil || len(docs) != 3 {
		t.Fatalf("three objects and a comment: %d docs, %v", len(docs), err)
	}
	list := `{"kind":"List","items":[` + strings.TrimSuffix(strings.Repeat(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a"}},`, 3), ",") + "]}"
	if _, err := SplitDocumentsLimited([]byte(ok+"---\n"+list), lim); statusCode(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("a List pushing the count over: %v", err)
	}
	if _, err := SplitDocumentsLimited([]byte(ok+"data: {k: "+strings.Repeat("v", 100)+"}\n"), DecodeLimits{MaxDocumentBytes: 64}); statusCode(err) != http.StatusRequestEntityTooLarge ||
		!strings.Contains(err.Error(), "document 1") {
		t.Fatalf("a document over the size limit: %v", err)
	}
}

func TestSplitDocumentsKeepsOrdinaryAnchors(t *testing.T) {
	// Anchors as people use them: a shared list, a merge of defaults, and
	// stars that are no aliases at all.
	doc := `apiVersion: v1
kind: ConfigMap
metadata:
  name: shared
  labels: &labels {app: web, tier: front}
  annotations:
    <<: *labels
    schedule: "*/5 * * * *"
    glob: a*b
data:
  first: &x "one"
  second: *x
`
	docs, err := SplitDocuments(strings.NewReader(doc))
	if err != nil || len(docs) != 1 {
		t.Fatalf("%d docs, %v", len(docs), err)
	}
	for _, want := range []string{`"second":"one"`, `"tier":"front"`, `"schedule":"*/5 * * * *"`} {
		if !bytes.Contains(docs[0], []byte(want)) {
			t.Fatalf("%s lacks %s", docs[0], want)
		}
	}
	// JSON passes through unchanged, not through YAML.
	js := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"},"data":{"n":"1"}}`
	docs, err = SplitDocuments(strings.NewReader(js))
	if err != nil || string(docs[0]) != js {
		t.Fatalf("JSON: %s %v", docs, err)
	}
}

func TestAliasLimitsAreExact(t *testing.T) {
	lim := DecodeLimits{MaxAliasNodes: 100}
	// A list of 10 scalars repeated 10 times adds 10*11 = 110 nodes.
	over := "a: &a [1,2,3,4,5,6,7,8,9,10]\nb: [" + strings.TrimSuffix(strings.Repeat("*a,", 10), ",") + "]\n"
	under := "a: &a [1,2,3,4,5,6,7,8,9,10]\nb: [" + strings.TrimSuffix(strings.Repeat("*a,", 9), ",") + "]\n"
	if err := checkYAMLExpansion([]byte(over), lim.withDefaults()); statusCode(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("110 added nodes: %v", err)
	}
	if err := checkYAMLExpansion([]byte(under), lim.withDefaults()); err != nil {
		t.Fatalf("99 added nodes: %v", err)
	}
	// Depth through aliases counts where the alias is used.
	nest := "a: &a [[[1]]]\nb: [[[[*a]]]]\n"
	if err := checkYAMLExpansion([]byte(nest), DecodeLimits{MaxDepth: 7}.withDefaults()); err == nil {
		t.Fatal("8 levels through an alias accepted with a limit of 7")
	}
	if err := checkYAMLExpansion([]byte(nest), DecodeLimits{MaxDepth: 8}.withDefaults()); err != nil {
		t.Fatalf("8 levels with a limit of 8: %v", err)
	}
}

func TestCheckNesting(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{`{"a":[1,{"b":2}]}`, true},
		{`{"a":"[[[[[[[[[[[[[[[[[["}`, true},   // brackets in strings do not count
		{`{"a":"\"[[[[[[[[[[[[[[[[[["}`, true}, // nor after an escaped quote
		{`{"a":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}`, false},
		{`{"a\\":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}`, false}, // an escaped backslash ends the escape
	}
	for _, c := range cases {
		if err := CheckNesting([]byte(c.in), 10); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.in, err)
		}
	}
}

// FuzzDocumentToJSON feeds any bytes to the bounded YAML/JSON conversion:
// it must never panic, and what it accepts must not expand past a small
// multiple of the limits (the measurement estimates JSON sizes; a scalar
// such as ~ becomes null, so the factor is not 1).
func FuzzDocumentToJSON(f *testing.F) {
	for _, s := range []string{billionLaughs(), "a: &a [1, *a]\n", "a: &a {b: c}\nd:\n  <<: *a\n  e: *a\n",
		`{"kind":"List","items":[{"a":1}]}`, "[[[[[[[[]]]]]]]]", "a: &x ~\nb: [*x, *x, *x, *x]\n", "- &a !!binary aGVsbG8=\n- *a\n"} {
		f.Add([]byte(s))
	}
	lim := DecodeLimits{MaxDocumentBytes: 4096, MaxObjects: 10, MaxDepth: 20, MaxAliasNodes: 200}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := DocumentToJSON(data, lim)
		if err != nil {
			return
		}
		if len(j) > 4*lim.MaxDocumentBytes+1024 {
			t.Fatalf("accepted %d bytes that became %d bytes of JSON", len(data), len(j))
		}
		if CheckNesting(j, lim.MaxDepth) != nil {
			t.Fatal("accepted a document nested past the limit")
		}
	})
}
