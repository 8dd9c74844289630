package gossip

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	m := NodeMeta{APIAddr: "http://10.213.0.11:7480", Version: "v0.3.0", Labels: map[string]string{"zone": "a", "disk": "ssd"}}
	for _, leaving := range []bool{false, true} {
		buf, err := encodeMeta(m, leaving)
		if err != nil {
			t.Fatal(err)
		}
		got, gotLeaving, err := decodeMeta(buf)
		if err != nil || !reflect.DeepEqual(got, m) || gotLeaving != leaving {
			t.Fatalf("got %+v %v %v", got, gotLeaving, err)
		}
	}
}

func TestMetaTooLarge(t *testing.T) {
	m := NodeMeta{APIAddr: "http://h:7480", Labels: map[string]string{"big": strings.Repeat("x", 600)}}
	if _, err := encodeMeta(m, false); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("got %v, want ErrMetaTooLarge", err)
	}
	if _, err := NewCluster(ClusterConfig{NodeName: "n1", BindAddr: "127.0.0.1:0", Meta: m, Validate: acceptAll}, testStore(t, "n1"), nil); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("NewCluster: got %v, want ErrMetaTooLarge", err)
	}
}

func testStore(t *testing.T, node string) *Store {
	t.Helper()
	st, err := Open("", node, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// acceptAll is the semantic validator of tests that replicate any key.
func acceptAll(*Record) error { return nil }
