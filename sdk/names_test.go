package sdk

import (
	"regexp"
	"strings"
	"testing"
)

// The checks in names.go are these regexps written by hand; the fuzzers hold them to the regexps.
var (
	pluginNameSpec  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	eventTypeSpec   = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)
	typePatternSpec = regexp.MustCompile(`^(\*|(\*|[a-z][a-z0-9_]*)\.(\*|[a-z][a-z0-9_]*))$`)
)

var typeSeeds = []string{
	"client.create", "a.b", "a_1.b_2", "A.b", "a.", ".b", "a..b", "a.b.c", "1a.b", "a.1b", "a_.b_", "", ".",
	"client.create\n", "é.b", "*", "**", "*.*", "client.*", "*.create", "*.", ".*", "*.*.*", "client.*x", "a-b.c",
}

func FuzzIsEventType(f *testing.F) {
	holdToRegexp(f, "IsEventType", IsEventType, eventTypeSpec, typeSeeds)
}

func FuzzIsTypePattern(f *testing.F) {
	holdToRegexp(f, "IsTypePattern", IsTypePattern, typePatternSpec, typeSeeds)
}

func FuzzIsPluginName(f *testing.F) {
	holdToRegexp(f, "IsPluginName", IsPluginName, pluginNameSpec, []string{"standard", "a", "my-format_2", "", "A", "1a",
		"-a", "_a", "a.b", "a/b", "a b", "é", "standard\n", strings.Repeat("a", 63), strings.Repeat("a", 64)})
}

// holdToRegexp fuzzes check, named name, against the regexp it was written from.
func holdToRegexp(f *testing.F, name string, check func(string) bool, spec *regexp.Regexp, seeds []string) {
	for _, seed := range seeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := check(s), spec.MatchString(s); got != want {
			t.Fatalf("%s(%q) = %v, the regexp says %v", name, s, got, want)
		}
	})
}

// Every valid pattern is one MatchType can use: it matches the types it is written to match.
func TestTypePatternsMatchTheirTypes(t *testing.T) {
	for _, c := range []struct {
		pattern, eventType string
		want               bool
	}{
		{"*", "client.create", true},
		{"client.*", "client.create", true},
		{"*.create", "client.create", true},
		{"client.create", "client.create", true},
		{"client.*", "invoice.create", false},
		{"*.delete", "client.create", false},
	} {
		if !IsTypePattern(c.pattern) {
			t.Fatalf("IsTypePattern(%q) = false", c.pattern)
		}
		if got := MatchType(c.pattern, c.eventType); got != c.want {
			t.Errorf("MatchType(%q, %q) = %v, want %v", c.pattern, c.eventType, got, c.want)
		}
	}
}
