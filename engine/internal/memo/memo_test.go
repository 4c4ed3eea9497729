package memo

import (
	"errors"
	"strconv"
	"testing"
)

func TestMemoComputesOncePerKey(t *testing.T) {
	t.Parallel()
	calls := map[string]int{}
	m := New(10, func(s string) (int, error) {
		calls[s]++
		return len(s), nil
	})
	for range 3 {
		for _, k := range []string{"a", "bb", "ccc"} {
			if v, err := m.Get(k); err != nil || v != len(k) {
				t.Fatalf("Get(%q) = %d, %v; want %d", k, v, err, len(k))
			}
		}
	}
	for k, n := range calls {
		if n != 1 {
			t.Errorf("%q computed %d times, want once", k, n)
		}
	}
}

func TestMemoKeepsNoErrors(t *testing.T) {
	t.Parallel()
	calls := 0
	bad := errors.New("bad")
	m := New(10, func(string) (int, error) {
		calls++
		return 0, bad
	})
	for range 2 {
		if _, err := m.Get("x"); !errors.Is(err, bad) {
			t.Fatalf("Get = %v, want the computation's error", err)
		}
	}
	if calls != 2 || m.Len() != 0 {
		t.Fatalf("an error was remembered: %d computations, %d held", calls, m.Len())
	}
}

func TestMemoStaysWithinItsBound(t *testing.T) {
	t.Parallel()
	m := New(100, func(s string) (string, error) { return s, nil })
	for i := range 1000 {
		k := strconv.Itoa(i)
		if v, err := m.Get(k); err != nil || v != k {
			t.Fatalf("Get(%q) = %q, %v", k, v, err)
		}
		if n := m.Len(); n > 100 {
			t.Fatalf("holds %d results, over its bound of 100", n)
		}
	}
}
