package engine

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// An event whose decoder did not mark its data checked has it checked here: only api/web's
// decoders, which check every value they read, may skip that.
func TestValidateChecksUnmarkedData(t *testing.T) {
	t.Parallel()
	valid := NewEvent{AccountID: "acc_1", Type: "client.create", Entity: Entity{Type: "client", ID: "42"}}
	for _, tc := range []struct {
		field string
		set   func(*NewEvent)
	}{
		{"data", func(ev *NewEvent) { ev.Data = json.RawMessage(`{"id": 42,}`) }},
		{"previous_data", func(ev *NewEvent) { ev.PreviousData = json.RawMessage(`{"id": `) }},
	} {
		ev := valid
		tc.set(&ev)
		err := ev.Validate("")
		var verr *ValidationError
		if !errors.As(err, &verr) || verr.Field != tc.field {
			t.Errorf("invalid %s: Validate = %v, want a validation error on %s", tc.field, err, tc.field)
		}
	}
	if err := valid.Validate(""); err != nil {
		t.Fatalf("a valid event: %v", err)
	}
}

// isSourceType is the regexp below written by hand; the fuzzer holds it to the regexp.
var sourceTypeSpec = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func FuzzIsSourceType(f *testing.F) {
	for _, seed := range []string{"api", "a", "a_1", "A", "1a", "_a", "", "a.b", "api\n", "é", strings.Repeat("a", 32), strings.Repeat("a", 33)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isSourceType(s), sourceTypeSpec.MatchString(s); got != want {
			t.Fatalf("isSourceType(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}
