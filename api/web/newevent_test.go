package web

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/sdk/wire"
)

// plainEvents are bodies in the form clients send: the one-pass reader must take each of them.
var plainEvents = []string{
	`{"account_id":"acc_1","type":"client.create","entity":{"type":"client","id":"42"},"data":{"id":42,"name":"Acme"}}`,
	`{"type":"invoice.delete","data":null,"previous_data":{"total":"1.50","lines":[1,2.5e3,-0.1,true,false,null]}}`,
	` { "type" : "a.b" , "data" : [ ] , "idempotency_key" : "k\u00e9y\n\"q\"" } `,
	`{"type":"a.b","user":{"id":"u1","name":"Zoë","email":"z@example.com"},"source":{"type":"api","info":{"key":"ci"}}}`,
	`{"type":"a.b","user":null,"source":null,"entity":null,"occurred_at":null,"deliver_at":null}`,
	`{"type":"a.b","occurred_at":"2026-01-02T15:04:05Z","deliver_at":"2026-01-02T15:04:05.123+02:00"}`,
	"{\"type\":\"a.b\",\"data\":\"bad \xff utf-8 kept raw\",\"entity\":{\"type\":\"t\xfe\",\"id\":\"\\ud83d\\ude00 \\ud800\"}}",
	`{"typ\u0065":"escaped.key"}`,
	`{}`,
}

// otherEvents are bodies the reader leaves to Decode: its errors, or its leniencies, are kept.
var otherEvents = []string{
	``,
	`   `,
	`null`,
	`[]`,
	`{"Type":"case.insensitive"}`,
	`{"type":"a.b","type":"twice"}`,
	`{"entity":{"type":"a"},"entity":{"id":"merged"}}`,
	`{"entity":{"type":"a","type":"b"}}`,
	`{"type":"a.b","unknown":1}`,
	`{"type":"a.b","entity":{"kind":"x"}}`,
	`{"type":42}`,
	`{"type":"a.b","occurred_at":"yesterday"}`,
	`{"type":"a.b","occurred_at":12}`,
	`{"type":"a.b"} trailing`,
	`{"type":"a.b"}{"type":"c.d"}`,
	`{"type":"a.b",}`,
	`{"type":"a.b","data":{"a":}}`,
	`{"type":"a.b","data":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
	`{"type":"a.b"`,
	`{"type":"a.b","user":{"id":"u","name":"n","name":"m"}}`,
	`{"type":"a.b","source":{"type":"api","info":1,"extra":2}}`,
	"{\"type\":\"tab\there\"}",
}

func bindEvent(t testing.TB, body string) (engine.NewEvent, error) {
	t.Helper()
	c := echo.New().NewContext(httptest.NewRequest("POST", "/v1/events", strings.NewReader(body)), httptest.NewRecorder())
	var ev engine.NewEvent
	err := BindEvent(c, &ev)
	return ev, err
}

func bindEvents(t testing.TB, body string) ([]engine.NewEvent, error) {
	t.Helper()
	c := echo.New().NewContext(httptest.NewRequest("POST", "/v1/events/batch", strings.NewReader(body)), httptest.NewRecorder())
	var events []engine.NewEvent
	err := BindEvents(c, &events)
	return events, err
}

// sameAsDecode fails unless BindEvent gives what Decode gives for body: the same event, or the
// same error.
func sameAsDecode(t testing.TB, body string) {
	t.Helper()
	got, gotErr := bindEvent(t, body)
	var want engine.NewEvent
	wantErr := Decode([]byte(body), &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("body %q: BindEvent's error %v, Decode's %v", body, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("body %q:\nBindEvent %+v\nDecode    %+v", body, got, want)
	}
	if wantErr == nil {
		checkedData(t, body, got)
	}
}

// checkedData fails unless ev is marked as having its data checked, and that data is JSON:
// Publish takes the mark's word and does not check it again.
func checkedData(t testing.TB, body string, ev engine.NewEvent) {
	t.Helper()
	if !ev.DataChecked {
		t.Fatalf("body %q: decoded without its data marked checked", body)
	}
	for _, raw := range [][]byte{ev.Data, ev.PreviousData} {
		if len(raw) > 0 && !json.Valid(raw) {
			t.Fatalf("body %q: data %q marked checked is not JSON", body, raw)
		}
	}
}

// normalize lets empty and nil raw values compare equal, and times by their instant and zone
// offset (the reader and encoding/json build the same time with different location pointers).
func normalize(ev engine.NewEvent) string {
	f := func(t interface{ Format(string) string }) string {
		return t.Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	s := fmt.Sprintf("%q|%q|%+v|%q|%q|%q", ev.AccountID, ev.Type, ev.Entity, ev.Data, ev.PreviousData, ev.IdempotencyKey)
	if ev.User != nil {
		s += fmt.Sprintf("|user %+v", *ev.User)
	}
	if ev.Source != nil {
		s += fmt.Sprintf("|source %q %q", ev.Source.Type, ev.Source.Info)
	}
	if ev.OccurredAt != nil {
		s += "|occurred " + f(ev.OccurredAt)
	}
	if ev.DeliverAt != nil {
		s += "|deliver " + f(ev.DeliverAt)
	}
	return s
}

func TestBindEventReadsPlainBodiesInOnePass(t *testing.T) {
	for _, body := range plainEvents {
		r := wire.NewSharingReader([]byte(body))
		var ev engine.NewEvent
		if err := readNewEvent(r, &ev); err != nil || r.End() != nil {
			t.Errorf("body %q: the one-pass reader refused it (%v); Decode would have read it", body, err)
		}
		sameAsDecode(t, body)
	}
}

func TestBindEventLeavesTheRestToDecode(t *testing.T) {
	for _, body := range otherEvents {
		r := wire.NewSharingReader([]byte(body))
		var ev engine.NewEvent
		if readNewEvent(r, &ev) == nil && r.End() == nil {
			t.Errorf("body %q: the one-pass reader took it; it is Decode's to judge", body)
		}
		sameAsDecode(t, body)
	}
}

func TestBindEventsMatchesDecode(t *testing.T) {
	bodies := []string{
		`{"events":[` + strings.Join(plainEvents, ",") + `]}`,
		`{"events":[]}`,
		`{}`,
		`{"events":null}`,
		`{"events":[null]}`,
		`{"events":[{"type":"a.b"}],"events":[{"type":"c.d"}]}`,
		`{"Events":[{"type":"a.b"}]}`,
		`{"events":[{"type":"a.b"},{"type":"c.d","nope":1}]}`,
		`{"events":{"type":"a.b"}}`,
	}
	for _, body := range bodies {
		got, gotErr := bindEvents(t, body)
		var want struct {
			Events []engine.NewEvent `json:"events"`
		}
		wantErr := Decode([]byte(body), &want)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("body %q: BindEvents' error %v, Decode's %v", body, gotErr, wantErr)
		}
		if wantErr != nil {
			continue
		}
		if len(got) != len(want.Events) {
			t.Fatalf("body %q: %d events, Decode %d", body, len(got), len(want.Events))
		}
		for i := range got {
			if normalize(got[i]) != normalize(want.Events[i]) {
				t.Fatalf("body %q, event %d:\nBindEvents %+v\nDecode     %+v", body, i, got[i], want.Events[i])
			}
			checkedData(t, body, got[i])
		}
	}
}

func FuzzBindEvent(f *testing.F) {
	for _, body := range append(plainEvents, otherEvents...) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) { sameAsDecode(t, body) })
}
