package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/sdk/wire"
)

func fullInput() *Input {
	return &Input{
		Event: Event{
			ID: "evt_1", Type: "client.update", AccountID: "acc_1",
			Entity:     Entity{Type: "client", ID: "42"},
			OccurredAt: time.UnixMilli(1795000000123).UTC(),
			User:       &User{ID: "u1", Name: "Ann \"The\" Admin", Email: "ann@example.com"},
			Source:     &Source{Type: SourceAPI, Info: []byte(`{"apiKey":"crm"}`)},
			Data:       []byte(`{"name":"new"}`),
			Previous:   []byte(`{"name":"old"}`),
		},
		Subscription: Subscription{ID: "sub_1", AccountID: "acc_1", AppID: "app_1", URL: "https://example.com/h?x=1&y=é",
			Format: "standard", EntityKey: "doc_9", HasSecret: true, Options: map[string]string{"b": "2", "a": "1"}},
		Account:  Account{ID: "acc_1", Name: "Acme\nGmbH", ExternalID: 1042},
		App:      App{ID: "app_1", Name: "Sync", URL: "https://app.example.com", ExternalID: 9007199254740991},
		Delivery: Delivery{ID: "dlv_1", Attempt: 3, Kind: KindEvent, CallbackURL: "c", ConfirmURL: "f", UnsubscribeURL: "u", CertificateURL: "p"},
		State:    json.RawMessage(`{"appData":{"k":1}}`),
	}
}

// Both heads carry every field: version 2's, which this SDK's plugins get, and version 1's JSON,
// which the host still writes for plugins of older SDKs.
func TestInputRoundTrip(t *testing.T) {
	t.Parallel()
	for _, abi := range []int{1, 2} {
		t.Run(fmt.Sprintf("abi%d", abi), func(t *testing.T) {
			in := fullInput()
			frame := in.AppendFrameFor(abi, nil, in.Event.Data)
			if head, _, _ := wire.SplitFrame(frame); (head[0] == '{') != (abi == 1) {
				t.Fatalf("ABI %d head starts %q", abi, head[:1])
			}
			var got Input
			if err := DecodeInput(frame, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&got, in) {
				t.Errorf("round trip changed the input:\ngot  %+v\nwant %+v", got, *in)
			}

			in.Response = &Response{Status: 503, Headers: []Header{{"Retry-After", "5"}, {"X-Empty", ""}}, Body: []byte("busy")}
			frame = in.AppendFrameFor(abi, nil, in.Response.Body)
			got = Input{}
			if err := DecodeInput(frame, &got); err != nil {
				t.Fatal(err)
			}
			if got.Response == nil || got.Response.Status != 503 || !reflect.DeepEqual(got.Response.Headers, in.Response.Headers) || string(got.Response.Body) != "busy" || got.Event.Data != nil {
				t.Errorf("response round trip: %+v data=%q", got.Response, got.Event.Data)
			}
		})
	}
}

// Both heads carry text: a string that is not UTF-8 arrives with each bad byte as U+FFFD, the same
// in either version, so a plugin signs what the receiver will see.
func TestHeadsCarryInvalidUTF8AsReplacementCharacters(t *testing.T) {
	t.Parallel()
	for _, abi := range []int{1, 2} {
		in := fullInput()
		in.Delivery.ID = "dlv_\xe9\xff1"
		var got Input
		if err := DecodeInput(in.AppendFrameFor(abi, nil, nil), &got); err != nil {
			t.Fatal(err)
		}
		if want := "dlv_\ufffd\ufffd1"; got.Delivery.ID != want {
			t.Errorf("ABI %d: id %q, want %q", abi, got.Delivery.ID, want)
		}
	}
}

// Raw JSON reaches a plugin the same through either head: null as nothing, and without the space
// around it (a publisher's "previous_data": null is kept as the text null).
func TestHeadsGiveRawJSONAlike(t *testing.T) {
	t.Parallel()
	for _, abi := range []int{1, 2} {
		in := fullInput()
		in.Event.Previous = []byte("null")
		in.State = []byte(" {\"k\": 1}\n")
		in.Event.Source.Info = []byte("\tnull ")
		var got Input
		if err := DecodeInput(in.AppendFrameFor(abi, nil, nil), &got); err != nil {
			t.Fatal(err)
		}
		if got.Event.Previous != nil || string(got.State) != `{"k": 1}` || got.Event.Source == nil || got.Event.Source.Info != nil {
			t.Errorf("ABI %d: previous %q, state %q, source %+v", abi, got.Event.Previous, got.State, got.Event.Source)
		}
	}
}

func TestNoTagIsAnOpeningBrace(t *testing.T) {
	t.Parallel()
	seen := map[byte]bool{}
	for _, tag := range headTags {
		if tag == '{' || seen[tag] {
			t.Errorf("tag %d is '{' or used twice", tag)
		}
		seen[tag] = true
	}
}

// A binary head that is cut short, or pairs a name with no value, is refused, not half read.
func TestBinaryHeadRefusesMalformedFields(t *testing.T) {
	t.Parallel()
	frameOf := func(head []byte) []byte {
		dst, start := wire.BeginFrame(nil)
		return wire.EndHead(append(dst, head...), start)
	}
	for name, head := range map[string][]byte{
		"length past the end":    {tagEventID, 5, 'a'},
		"unterminated length":    {tagEventID, 0x80},
		"short integer":          {tagOccurredAt, 2, 1, 2},
		"option without value":   {tagOptionName, 1, 'a'},
		"value without option":   {tagOptionValue, 1, 'a'},
		"header name then other": {tagResponseHdrName, 1, 'a', tagEventID, 1, 'b'},
	} {
		var got Input
		if err := DecodeInput(frameOf(head), &got); !errors.Is(err, wire.ErrSyntax) {
			t.Errorf("%s: %v, want a syntax error", name, err)
		}
	}
	// A tag this SDK does not know is skipped, as a newer host may add fields.
	var got Input
	if err := DecodeInput(frameOf([]byte{99, 2, 'x', 'y', tagEventType, 1, 't'}), &got); err != nil || got.Event.Type != "t" {
		t.Errorf("unknown tag: %v, type %q", err, got.Event.Type)
	}
}

func TestDecodedStringsOutliveTheFrame(t *testing.T) {
	t.Parallel()
	frame := fullInput().AppendFrame(nil, nil)
	var got Input
	if err := DecodeInput(frame, &got); err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 'X' // the guest reuses its input buffer for the next call
	}
	if got.Event.ID != "evt_1" || got.Account.Name != "Acme\nGmbH" || got.Subscription.Options["a"] != "1" {
		t.Errorf("decoded strings changed with the buffer: %+v", got)
	}
}

func TestRequestVerdictAndErrorRoundTrip(t *testing.T) {
	t.Parallel()
	req := &Request{Method: "PUT", URL: "https://x", Path: "/p", Headers: []Header{{"A", "1"}, {"a", "2"}}, Body: []byte("\x00binary\xff"),
		Secrets: []SecretRef{{Placeholder: "{{switchyard-secret:00112233445566778899aabbccddeeff}}", Key: KeyApp, Encoding: SecretJSON}}}
	got, err := DecodeRequest(req.AppendFrame(nil))
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Errorf("request round trip: %+v %v", got, err)
	}
	v := &Verdict{Outcome: OutcomeRetry, RetryAfter: 1500 * time.Millisecond, Message: "later", Keep: json.RawMessage(`{"x":[1]}`)}
	gotV, err := DecodeVerdict(v.AppendJSON(nil))
	if err != nil || !reflect.DeepEqual(gotV, v) {
		t.Errorf("verdict round trip: %+v %v", gotV, err)
	}
	if _, err := DecodeVerdict([]byte(`{"outcome":"maybe"}`)); err == nil {
		t.Error("an unknown outcome was accepted")
	}
	e := DecodeError(AppendError(nil, Retryable(errors.New("upstream down"))))
	if e.Message != "upstream down" || !e.Retryable {
		t.Errorf("error round trip: %+v", e)
	}
	if e := DecodeError([]byte("not json")); !strings.Contains(e.Message, "malformed error") {
		t.Errorf("garbage error: %+v", e)
	}
}

func TestMatchType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, typ string
		want         bool
	}{
		{"*", "client.create", true}, {"client.*", "client.create", true}, {"*.delete", "invoice.delete", true},
		{"client.create", "client.create", true}, {"client.*", "invoice.create", false}, {"client.create", "client.update", false},
		{"client", "client.create", false}, {"*.*", "a.b", true},
	} {
		if got := MatchType(tc.pattern, tc.typ); got != tc.want {
			t.Errorf("MatchType(%q, %q) = %v", tc.pattern, tc.typ, got)
		}
	}
	m := Manifest{Events: []EventType{{Type: "customer.create", Name: "CustomerCreated"}, {Type: "customer.*", Name: "CustomerAny"}}}
	if m.EventName("customer.create") != "CustomerCreated" || m.EventName("customer.delete") != "CustomerAny" || m.EventName("x.y") != "" {
		t.Error("EventName picks the first matching entry")
	}
}

// FuzzDecodeRequest feeds the host's parser of plugin output whatever a hostile plugin could return.
func FuzzDecodeRequest(f *testing.F) {
	f.Add((&Request{Method: "POST", Headers: []Header{{"a", "b"}}, Body: []byte("x")}).AppendFrame(nil))
	f.Add([]byte{3, 0, 0, 0, '{', '}', '}'})
	f.Add((&Request{Body: []byte("k"), Secrets: []SecretRef{{"p", "app", "raw"}}}).AppendFrame(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := DecodeRequest(frame)
		if err != nil {
			return
		}
		// Whatever decoded must survive a round trip.
		again, err := DecodeRequest(req.AppendFrame(nil))
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip of %+v: %+v %v", req, again, err)
		}
	})
}

// FuzzDecodeInput feeds the guest's input parser arbitrary frames.
func FuzzDecodeInput(f *testing.F) {
	in := fullInput()
	f.Add(in.AppendFrameFor(1, nil, in.Event.Data))
	f.Add(in.AppendFrameFor(2, nil, in.Event.Data))
	f.Add([]byte{2, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var got Input
		if DecodeInput(frame, &got) != nil {
			return
		}
		// Whatever decodes reaches a plugin the same through either head.
		var v1, v2 Input
		err1 := DecodeInput(got.AppendFrameFor(1, nil, got.Event.Data), &v1)
		err2 := DecodeInput(got.AppendFrameFor(2, nil, got.Event.Data), &v2)
		if err2 != nil {
			t.Fatalf("version 2 does not decode what it encoded: %v", err2)
		}
		if err1 != nil {
			return // raw JSON that is not JSON, which only a hand-made binary head carries
		}
		if !reflect.DeepEqual(v1, v2) {
			t.Errorf("the heads disagree:\nv1 %+v\nv2 %+v", v1, v2)
		}
	})
}

// FuzzDecodeVerdict feeds on_response's result parser arbitrary bytes.
func FuzzDecodeVerdict(f *testing.F) {
	f.Add([]byte(`{"outcome":"retry","retry_after_ms":5,"keep":{"a":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVerdict(b)
		if err == nil && v.Keep != nil && !json.Valid(v.Keep) {
			t.Fatalf("kept invalid JSON %q", v.Keep)
		}
		_ = DecodeError(b)
	})
}
