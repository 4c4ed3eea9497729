package engine

import (
	"strings"
	"testing"
)

func TestNewIDIsSortableAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	for range 10000 {
		id := NewID("dlv")
		if !strings.HasPrefix(id, "dlv_") || len(id) != len("dlv_")+26 {
			t.Fatalf("malformed id %q", id)
		}
		if seen[id] || id <= prev {
			t.Fatalf("id %q repeats or does not sort after %q", id, prev)
		}
		seen[id] = true
		prev = id
	}
}
