package postgres

import (
	"strings"
	"testing"
)

// TestExcerpt: a body cut to characters as SQLite's substr cuts TEXT, from the prefix the query
// reads, also when that prefix ends inside a character or the body is not UTF-8 at all.
func TestExcerpt(t *testing.T) {
	prefix := func(s string, n int) []byte {
		b := []byte(s)
		return b[:min(len(b), excerptBytes(n))]
	}
	for _, c := range []struct {
		body string
		n    int
		want string
	}{
		{"", 5, ""},
		{"", 0, ""},
		{"abc", 0, "…"},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{strings.Repeat("é", 40), 30, strings.Repeat("é", 30) + "…"},
		{strings.Repeat("é", 30), 30, strings.Repeat("é", 30)},
		{strings.Repeat("𝄞", 10), 9, strings.Repeat("𝄞", 9) + "…"},
		{strings.Repeat("𝄞", 10), 10, strings.Repeat("𝄞", 10)},
		{"\x1f\x8b\x08\x00\xff\xfe", 4, "\x1f\x8b\x08\x00…"},
		{"\x1f\x8b\x08\x00\xff\xfe", 6, "\x1f\x8b\x08\x00\xff\xfe"},
	} {
		if got := excerpt(prefix(c.body, c.n), c.n); got != c.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", c.body, c.n, got, c.want)
		}
	}
}
