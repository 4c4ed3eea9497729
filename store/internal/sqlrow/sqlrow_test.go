package sqlrow

import (
	"encoding/json"
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
		args := tc.d.AttemptArgs(a)
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

// Headers are stored as JSON written by hand; read back, they are what encoding/json would have
// stored, byte for byte in every name and value.
func TestHeadersJSONReadsBackAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, h := range [][]engine.HeaderLine{
		{},
		{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Sig", Value: `t=1,v1="a\\b"`}},
		{{Name: "x", Value: "<&> \u2028 \x00\x1f tab\t nl\n"}, {Name: "bad-utf8", Value: "\xff\xfe ok é"}},
	} {
		got := headersJSON(h)
		want, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var fromOurs, fromJSON []engine.HeaderLine
		if err := json.Unmarshal([]byte(got.String), &fromOurs); err != nil || !got.Valid {
			t.Fatalf("%q: not JSON (%v) or not stored", got.String, err)
		}
		if err := json.Unmarshal(want, &fromJSON); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromOurs, fromJSON) {
			t.Errorf("read back %q, encoding/json's reads back %q", fromOurs, fromJSON)
		}
	}
	if headersJSON(nil).Valid {
		t.Error("no headers must be stored as NULL")
	}
}
