package sqlrow

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Databases written by earlier builds are read with these: a time is its unix milliseconds, in UTC.
func TestTimesAreUnixMilliseconds(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))
	if got, want := ToMS(at), int64(1772597167891); got != want {
		t.Errorf("ToMS = %d, want %d", got, want)
	}
	if got, want := FromMS(1772597167891), at.Truncate(time.Millisecond).UTC(); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("FromMS = %v, want %v in UTC", got, want)
	}
	if v := ToNullMS(nil); v.Valid {
		t.Errorf("ToNullMS(nil) = %+v, want NULL", v)
	}
	if got := FromNullMS(ToNullMS(&at)); got == nil || !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("FromNullMS(ToNullMS(t)) = %v, want %v", got, at)
	}
}

// The dialects bind an attempt as each driver's columns hold it: SQLite's bodies are TEXT and keep
// any text, PostgreSQL's bodies are BYTEA and its TEXT is cleaned.
func TestDialectBindsAttempts(t *testing.T) {
	t.Parallel()
	a := &engine.Attempt{DeliveryID: "d1", Number: 1, RequestBody: "req\x00", ResponseBody: "resp", Error: "bad\x00"}
	clean := func(s string) string { return strings.ReplaceAll(s, "\x00", "") }
	for _, tc := range []struct {
		name          string
		d             Dialect
		reqBody, errT any
	}{
		{"sqlite", Dialect{}, "req\x00", "bad\x00"},
		{"postgres", Dialect{CleanText: clean, BinaryBodies: true}, []byte("req\x00"), "bad"},
	} {
		args, err := tc.d.AttemptArgs(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(strings.Split(AttemptCols, ",")); len(args) != got {
			t.Fatalf("%s: %d args for %d columns", tc.name, len(args), got)
		}
		if !reflect.DeepEqual(args[8], tc.reqBody) || !reflect.DeepEqual(args[13], tc.errT) {
			t.Errorf("%s: request_body %#v, error %#v; want %#v, %#v", tc.name, args[8], args[13], tc.reqBody, tc.errT)
		}
		dargs := tc.d.DeliveryArgs(&engine.Delivery{ID: "d1", LastError: "bad\x00"})
		if got := len(strings.Split(DeliveryCols, ",")); len(dargs) != got {
			t.Fatalf("%s: %d delivery args for %d columns", tc.name, len(dargs), got)
		}
		if !reflect.DeepEqual(dargs[11], tc.errT) {
			t.Errorf("%s: last_error %#v, want %#v", tc.name, dargs[11], tc.errT)
		}
	}
}
