package api

import (
	"slices"
	"testing"
)

func TestDuplicateFieldsNamesEachRepeatedKeyByPath(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`{"a":1,"b":2}`, nil},
		{`{"a":1,"a":2}`, []string{"a"}},
		{`{"spec":{"replicas":1,"replicas":2,"x":{"y":1}},"metadata":{"name":"a"}}`, []string{"spec.replicas"}},
		{`{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","name":"c"}]}}`, []string{"spec.containers[1].name"}},
		{`{"a":{"b":1},"a":{"b":1,"b":2}}`, []string{"a", "a.b"}},
		{`{"a":`, nil},
	} {
		if got := DuplicateFields([]byte(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("DuplicateFields(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUnknownFieldsOfNamesFieldsTheTypeLacks(t *testing.T) {
	got := UnknownFieldsOf(&Scale{}, []byte(`{"spec":{"replicas":2,"replica":3},"metadata":{"name":"w"},"extra":1}`))
	if want := []string{"extra", "spec.replica"}; !slices.Equal(got, want) {
		t.Fatalf("UnknownFieldsOf = %q, want %q", got, want)
	}
}
